# EasyPost Event (tracker.updated, tracker.created) whose `result` is a Tracker -> one canonical
# tracking update (rules: samples/README.md, "easypost"; statuses: docs.easypost.com/docs/trackers).
#
# status = the Tracker's status (EasyPost's current status of the parcel), else the newest
# event's; events = result.tracking_details, newest first by instant; the newest event gives
# occurred_at and location (its tracking_location city, state, country joined with ", ").

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

# Tracker.status and TrackingDetail.status, one row per documented code; raw code kept beside.
def status_of:
  {"unknown": "unknown", "pre_transit": "pre_transit", "in_transit": "in_transit",
   "out_for_delivery": "out_for_delivery", "available_for_pickup": "available_for_pickup",
   "delivered": "delivered", "return_to_sender": "returned", "failure": "exception",
   "cancelled": "exception", "error": "exception"} as $table
  | if . == null then null else ($table[.] // "unknown") end;

# EasyPost's carrier names (its carrier account types) -> stable carrier code.
def carrier_code:
  {"USPS": "usps", "UPS": "ups", "UPSDAP": "ups", "UPSMailInnovations": "ups", "FedEx": "fedex",
   "FedExDefault": "fedex", "FedExSmartPost": "fedex", "DHLExpress": "dhl", "DHL": "dhl",
   "DHLEcommerce": "dhl-ecommerce", "DHLeCommerceAsia": "dhl-ecommerce", "CanadaPost": "canada-post",
   "RoyalMail": "royal-mail", "AustraliaPost": "australia-post", "OnTrac": "ontrac",
   "LaserShip": "lasership", "Purolator": "purolator", "DPD": "dpd", "DPDUK": "dpd", "GSO": "gso",
   "AmazonShipping": "amazon", "Amazon": "amazon", "Canpar": "canpar", "Yanwen": "yanwen"} as $table
  | $table[.] // (ascii_downcase | gsub("[^a-z0-9]+"; "-"));

def location:
  if . == null then null
  else [.city, .state, .country] | map(nz | values) | if length == 0 then null else join(", ") end
  end;

.result as $t
| if ($t.tracking_code | nz) == null then error("bad input: no result.tracking_code") else . end
| [$t.tracking_details[]? | {
    occurred_at: (.datetime | nz),
    status: (.status | nz | status_of),
    location: (.tracking_location | location),
    description: (.message | nz),
    raw_code: (.status | nz)
  }] | newest_first as $events
| ($events[0] // null) as $newest
| {
    carrier: ($t.carrier | nz | if . == null then "unknown" else carrier_code end),
    carrier_name: ($t.carrier | nz),
    tracking_number: ($t.tracking_code | nz),
    status: (($t.status | nz | status_of) // $newest.status // "unknown"),
    occurred_at: $newest.occurred_at,
    location: $newest.location,
    description: $newest.description,
    raw_code: (($t.status | nz) // $newest.raw_code),
    events: $events,
    eta: (first_of($t.est_delivery_date) | eta_instant)
  }
