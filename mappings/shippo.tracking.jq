# Shippo `track_updated` webhook -> one canonical tracking update (rules: samples/README.md,
# "shippo"; statuses: docs.goshippo.com/docs/tracking/tracking).
#
# status = data.tracking_status (Shippo's current status), else the newest history entry's;
# events = data.tracking_history, newest first by instant; the newest of those and
# tracking_status gives occurred_at and location (city, state, country joined with ", "; null
# when Shippo gives no location).

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

# Tracking status, refined by the documented substatus codes that name another canonical state.
def status_of($substatus):
  {"PRE_TRANSIT": "pre_transit", "TRANSIT": "in_transit", "DELIVERED": "delivered",
   "RETURNED": "returned", "FAILURE": "exception", "UNKNOWN": "unknown"} as $table
  | {"out_for_delivery": "out_for_delivery", "delivery_attempted": "failed_attempt",
     "pickup_available": "available_for_pickup"} as $transit
  | if . == null then null
    elif . == "TRANSIT" and $transit[$substatus // ""] != null then $transit[$substatus]
    else $table[.] // "unknown" end;

# Shippo carrier tokens -> stable carrier code.
def carrier_code:
  {"usps": "usps", "ups": "ups", "fedex": "fedex", "dhl_express": "dhl", "dhl": "dhl",
   "dhl_ecommerce": "dhl-ecommerce", "canada_post": "canada-post", "australia_post": "australia-post",
   "royal_mail": "royal-mail", "ontrac": "ontrac", "lasership": "lasership", "purolator": "purolator",
   "dpd_uk": "dpd", "dpd_de": "dpd", "gls_us": "gls", "amazon": "amazon", "chronopost": "chronopost",
   "colissimo": "colissimo", "correos": "correos", "deutsche_post": "deutsche-post", "poste_italiane":
   "poste-italiane", "sendle": "sendle", "parcelforce": "parcelforce"} as $table
  | ascii_downcase | $table[.] // gsub("[^a-z0-9]+"; "-");

def location:
  if . == null then null
  else [.city, .state, .country] | map(nz | values) | if length == 0 then null else join(", ") end
  end;

def event: {
  occurred_at: (.status_date | nz),
  status: ((.substatus.code? // null) as $sub | .status | nz | status_of($sub)),
  location: (.location | location),
  description: (.status_details | nz),
  raw_code: ([.status, .substatus.code?] | map(nz | values) | if length == 0 then null else join("/") end)
};

.data as $d
| if ($d.tracking_number | nz) == null then error("bad input: no data.tracking_number") else . end
| ([$d.tracking_history[]? | event] | newest_first) as $events
# The current tracking_status competes with the history for newest (it may not be in it yet).
| ($d.tracking_status | if . == null then [] else [event] end) as $current
| (($events + $current) | newest_first | .[0] // null) as $newest
| {
    carrier: ($d.carrier | nz | if . == null then "unknown" else carrier_code end),
    carrier_name: ($d.carrier | nz),
    tracking_number: ($d.tracking_number | nz),
    status: (($current[0].status) // $newest.status // "unknown"),
    occurred_at: $newest.occurred_at,
    location: $newest.location,
    description: $newest.description,
    raw_code: (($current[0].raw_code) // $newest.raw_code),
    events: $events,
    eta: (first_of($d.eta) | eta_instant)
  }
