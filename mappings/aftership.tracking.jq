# AfterShip tracking webhook (`tracking_update`, `edd_revise`, …) whose `msg` is a Tracking ->
# one canonical tracking update (rules: samples/README.md, "aftership"; tags:
# aftership.com/docs/tracking/enum/tags).
#
# status = msg.tag (AfterShip's current tag), else the newest checkpoint's; events =
# msg.checkpoints, newest first by checkpoint_time (local times with their offsets, compared as
# instants); the newest gives occurred_at and location (the checkpoint's `location`, else city,
# state, country joined with ", ").

def nz: if type == "string" then (trim | if . == "" then null else . end) else . end;
# An estimated delivery as an instant: a date alone is the end of that day (UTC), a time without
# a zone is read as UTC.
def eta_instant:
  if . == null then null
  elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$") then . + "T23:59:59Z"
  elif test("(Z|[+-][0-9]{2}:[0-9]{2})$") then .
  else . + "Z" end;
def first_of(f): first((f | nz | select(. != null)), null);
def instant: if . == null then null else fromdateiso8601 end;
# Newest first by instant; events without a time last; ties keep payload order. (Sorting keyed
# arrays rather than `sort_by(f)`, which the fast engine leaves to jaq.)
def newest_first:
  [to_entries[] | .value.occurred_at as $at
   | [(if $at == null then 1 else 0 end), (if $at == null then 0 else 0 - ($at | instant) end), .key, .value]]
  | sort | map(.[3]);

# AfterShip tags, one row per documented tag; the raw tag is kept beside.
def status_of:
  {"Pending": "pre_transit", "InfoReceived": "pre_transit", "InTransit": "in_transit",
   "OutForDelivery": "out_for_delivery", "AttemptFail": "failed_attempt",
   "AvailableForPickup": "available_for_pickup", "Delivered": "delivered",
   "Exception": "exception", "Expired": "unknown"} as $table
  | if . == null then null else ($table[.] // "unknown") end;

# AfterShip courier slugs -> stable carrier code (a slug is already lowercase and stable).
def carrier_code:
  {"dhl": "dhl", "dhl-global-mail": "dhl-ecommerce", "dhl-ecommerce": "dhl-ecommerce",
   "china-ems": "ems", "china-post": "china-post", "zto-express": "zto", "yto": "yto",
   "sfb2c": "sf-express", "sf-express": "sf-express", "yunda": "yunda", "sto": "sto",
   "jtexpress": "jt-express", "deppon": "deppon", "best-express": "best", "amazon-shipping": "amazon",
   "fedex-uk": "fedex", "fedex-freight": "fedex", "ups-freight": "ups", "usps-webhook": "usps"} as $table
  | ascii_downcase | $table[.] // .;

def location:
  (.location | nz) // ([.city, .state, (.country_iso3 // .country_name)] | map(nz | values)
                      | if length == 0 then null else join(", ") end);

.msg as $m
| if ($m.tracking_number | nz) == null then error("bad input: no msg.tracking_number") else . end
| [$m.checkpoints[]? | {
    occurred_at: (.checkpoint_time | nz),
    status: (.tag | nz | status_of),
    location: location,
    description: (.message | nz),
    raw_code: (.tag | nz)
  }] | newest_first as $events
| ($events[0] // null) as $newest
| {
    carrier: ($m.slug | nz | if . == null then "unknown" else carrier_code end),
    carrier_name: ($m.slug | nz),
    tracking_number: ($m.tracking_number | nz),
    status: (($m.tag | nz | status_of) // $newest.status // "unknown"),
    occurred_at: $newest.occurred_at,
    location: $newest.location,
    description: $newest.description,
    raw_code: (($m.tag | nz) // $newest.raw_code),
    events: $events,
    eta: (first_of($m.latest_estimated_delivery.datetime_max?, $m.latest_estimated_delivery.datetime?,
                 $m.courier_estimated_delivery_date.estimated_delivery_date_max?,
                 $m.courier_estimated_delivery_date.estimated_delivery_date?, $m.expected_delivery,
                 $m.aftership_estimated_delivery_date.estimated_delivery_date?) | eta_instant)
  }
