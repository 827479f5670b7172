# 17TRACK v2.2 push (`TRACKING_UPDATED`) -> one canonical tracking update (rules:
# samples/README.md, "17track"; statuses: api.17track.net v2.2 "Main status").
#
# carrier = provider.name of the providers[] entry whose provider.key is data.carrier (else the
# first provider); events = every provider's events (several providers: origin and last-mile
# carriers), newest first by time_utc (else time_iso); status = latest_status.status, else
# the newest event's (the main status of its sub_status); the newest of the events and
# latest_event gives occurred_at and location.

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

# Main statuses, one row per documented status; sub-statuses (`InTransit_Arrival`) map by their
# main status and are kept as the raw code.
def status_of:
  {"NotFound": "unknown", "InfoReceived": "pre_transit", "InTransit": "in_transit",
   "Expired": "unknown", "AvailableForPickup": "available_for_pickup",
   "OutForDelivery": "out_for_delivery", "DeliveryFailure": "failed_attempt",
   "Delivered": "delivered", "Exception": "exception"} as $table
  | if . == null then null else ($table[split("_")[0]] // "unknown") end;

# 17TRACK provider names -> stable carrier code.
def carrier_code:
  (ascii_downcase | gsub("[^a-z0-9]+"; "")) as $key
  | {"usps": "usps", "ups": "ups", "fedex": "fedex", "dhl": "dhl", "dhlexpress": "dhl",
     "dhlecommerce": "dhl-ecommerce", "dhlparcel": "dhl", "sfexpress": "sf-express",
     "sfinternational": "sf-express", "ytoexpress": "yto", "yto": "yto", "ztoexpress": "zto",
     "stoexpress": "sto", "yundaexpress": "yunda", "chinapost": "china-post", "chinaems": "ems",
     "ems": "ems", "jtexpress": "jt-express", "jdlogistics": "jd", "cainiao": "cainiao",
     "royalmail": "royal-mail", "canadapost": "canada-post", "australiapost": "australia-post",
     "dpd": "dpd", "gls": "gls", "postnl": "postnl", "yanwen": "yanwen", "4px": "4px",
     "顺丰": "sf-express", "顺丰速运": "sf-express", "圆通": "yto", "圆通速递": "yto",
     "中通": "zto", "中通快递": "zto", "申通": "sto", "韵达": "yunda", "中国邮政": "china-post",
     "中国邮政ems": "ems", "极兔速递": "jt-express", "京东物流": "jd"} as $table
  | $table[$key] // $table[ascii_downcase] // (ascii_downcase | gsub("[ _/.]+"; "-"));

def event: {
  occurred_at: ((.time_utc | nz) // (.time_iso | nz)),
  status: (.sub_status | nz | status_of),
  location: (.location | nz),
  description: (.description | nz),
  raw_code: (.sub_status | nz)
};

.data as $d
| if ($d.number | nz) == null then error("bad input: no data.number") else . end
| ($d.track_info.tracking.providers // []) as $providers
| (first($providers[] | select(.provider.key == $d.carrier)) // $providers[0] // null) as $provider
| [$providers[] | .events[]? | event] | newest_first as $events
| ($d.track_info.latest_status // {}) as $latest
# latest_event competes with the providers' events for newest.
| (($events + [$d.track_info.latest_event | values | event]) | newest_first | .[0] // null) as $newest
| {
    carrier: ($provider.provider.name | nz | if . == null then "unknown" else carrier_code end),
    carrier_name: ($provider.provider.name | nz),
    tracking_number: ($d.number | nz),
    status: (($latest.status | nz | status_of) // $newest.status // "unknown"),
    occurred_at: $newest.occurred_at,
    location: $newest.location,
    description: $newest.description,
    raw_code: (($latest.sub_status | nz) // ($latest.status | nz) // $newest.raw_code),
    events: $events,
    eta: (first_of($d.track_info.time_metrics.estimated_delivery_date | (.to?, .from?)) | eta_instant)
  }
