# SF Express (顺丰) RoutePushService -> one canonical tracking update per waybill (rules:
# samples/README.md, "sf-express"; 丰桥 RoutePushService, opCode list of the route query).
#
# Input: the JSON push {"Body": {"WaybillRoute": [...]}}, or the form push's XML decoded into
# the same shape (src/tracking/decode.rs). A push carries up to 10 routes, possibly of several
# waybills: routes are grouped by mailno. events = the waybill's routes, newest first by
# acceptTime (zone-less China Standard Time, +08:00); the newest decides status (by opCode),
# occurred_at and location (acceptAddress).

def nz: if type == "string" then (trim | if . == "" then null else . end) else . end;
def instant: if . == null then null else fromdateiso8601 end;
# Newest first by instant; events without a time last; ties keep payload order. (Sorting keyed
# arrays rather than `sort_by(f)`, which the fast engine leaves to jaq.)
def newest_first:
  [to_entries[] | .value.occurred_at as $at
   | [(if $at == null then 1 else 0 end), (if $at == null then 0 else 0 - ($at | instant) end), .key, .value]]
  | sort | map(.[3]);
# "2025-11-04 18:22:41" (China Standard Time) -> "2025-11-04T18:22:41+08:00".
def cst:
  if . == null then null
  elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?$")
  then .[0:10] + "T" + .[11:] + (if length == 16 then ":00" else "" end) + "+08:00"
  else . end;

# opCode -> canonical status, one row per code; the raw opCode is kept beside. Codes not in the
# table are `unknown` (kept, never guessed).
def status_of:
  {"50": "in_transit", "54": "in_transit", "30": "in_transit", "31": "in_transit",
   "36": "in_transit", "44": "out_for_delivery", "204": "out_for_delivery",
   "80": "delivered", "8000": "delivered", "99": "returned", "631": "returned",
   "648": "returned", "70": "failed_attempt", "33": "exception"} as $table
  | if . == null then null else ($table[tostring] // "unknown") end;

# A push of one route may carry it as an object rather than a one-element array.
[.Body.WaybillRoute | if type == "object" then . else .[]? end | . as $route | {
    mailno: ($route.mailno | if . == null then null else tostring | nz end),
    event: {
      occurred_at: ($route.acceptTime | nz | cst),
      status: ($route.opCode | if . == null then null else tostring | nz | status_of end),
      location: ($route.acceptAddress | nz),
      description: ($route.remark | nz),
      raw_code: ($route.opCode | if . == null then null else tostring | nz end)
    }
  }]
| if length == 0 then error("bad input: no WaybillRoute") else . end
| if map(select(.mailno == null)) | length > 0 then error("bad input: a WaybillRoute has no mailno") else . end
| . as $routes
| [.[].mailno] | unique[] as $mailno
| ([$routes[] | select(.mailno == $mailno) | .event] | newest_first) as $events
| $events[0] as $newest
| {
    carrier: "sf-express",
    carrier_name: "SF Express",
    tracking_number: $mailno,
    status: ($newest.status // "unknown"),
    occurred_at: $newest.occurred_at,
    location: $newest.location,
    description: $newest.description,
    raw_code: $newest.raw_code,
    events: $events
  }
