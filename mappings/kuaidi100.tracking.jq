# Kuaidi100 (快递100) subscription push, the form field `param` read as JSON -> one canonical
# tracking update (rules: samples/README.md, "kuaidi100"; states: api.kuaidi100.com/document,
# 推送接口 and 快递状态; field names as in kuaidi100-api/java-demo SubscribePushResult).
#
# events = lastResult.data, newest first by ftime (else time), zone-less China Standard Time
# (+08:00); status = lastResult.state (Kuaidi100's state of the newest row), else the newest
# row's (statusCode, else its status word); the newest row gives occurred_at and location
# (its areaName).

def nz: if type == "string" then (trim | if . == "" then null else . end) else . end;
def instant: if . == null then null else fromdateiso8601 end;
# Newest first by instant; events without a time last; ties keep payload order. (Sorting keyed
# arrays rather than `sort_by(f)`, which the fast engine leaves to jaq.)
def newest_first:
  [to_entries[] | .value.occurred_at as $at
   | [(if $at == null then 1 else 0 end), (if $at == null then 0 else 0 - ($at | instant) end), .key, .value]]
  | sort | map(.[3]);
# "2025-11-05 06:41:27" (China Standard Time) -> "2025-11-05T06:41:27+08:00".
def cst:
  if . == null then null
  elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?$")
  then .[0:10] + "T" + .[11:] + (if length == 16 then ":00" else "" end) + "+08:00"
  else . end;
def first_of(f): first((f | nz | select(. != null)), null);
# arrivalTime (resultv2=8, the estimated arrival to the hour, China Standard Time):
# "2025-11-07 13" -> the end of that hour, "2025-11-07T13:59:59+08:00"; a full time as `cst`.
def eta_cst:
  if . == null then null
  elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}$") then .[0:10] + "T" + .[11:13] + ":59:59+08:00"
  elif test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$") then . + "T23:59:59+08:00"
  else cst end;

# state / statusCode, one row per documented code (the basic states 0-14 and the resultv2=4
# sub-states); the raw code is kept beside.
def status_of:
  {"0": "in_transit", "1001": "in_transit", "1002": "in_transit", "1003": "in_transit",
   "1": "in_transit", "101": "pre_transit", "102": "pre_transit", "103": "in_transit",
   "2": "exception", "201": "exception", "202": "exception", "203": "exception",
   "204": "exception", "205": "exception", "206": "exception", "207": "exception",
   "208": "exception", "209": "exception", "210": "exception", "211": "exception",
   "3": "delivered", "301": "delivered", "302": "delivered", "303": "delivered", "304": "delivered",
   "4": "returned", "401": "returned", "5": "out_for_delivery", "501": "available_for_pickup",
   "6": "returned", "7": "in_transit", "8": "in_transit", "10": "in_transit", "11": "in_transit",
   "12": "in_transit", "13": "exception", "14": "exception"} as $table
  | if . == null then null else ($table[tostring] // "unknown") end;

# The status word of a row (resultv2=1): 在途, 揽收, 疑难, 签收, 退签, 派件, 退回, 转投, 清关, 拒签.
def word_status:
  {"在途": "in_transit", "揽收": "in_transit", "疑难": "exception", "签收": "delivered",
   "退签": "returned", "派件": "out_for_delivery", "退回": "returned", "转投": "in_transit",
   "转单": "in_transit", "清关": "in_transit", "待清关": "in_transit", "清关中": "in_transit",
   "已清关": "in_transit", "清关异常": "exception", "拒签": "exception", "已下单": "pre_transit",
   "待揽收": "pre_transit"} as $table
  | if . == null then null else $table[.] end;

# Kuaidi100 company codes (and Chinese names) -> stable carrier code.
def carrier_code:
  {"shunfeng": "sf-express", "shunfengkuaiyun": "sf-express", "yuantong": "yto",
   "zhongtong": "zto", "shentong": "sto", "yunda": "yunda", "ems": "ems", "youzhengguonei": "china-post",
   "youzhengguoji": "china-post", "jd": "jd", "jtexpress": "jt-express", "debangwuliu": "deppon",
   "debangkuaidi": "deppon", "huitongkuaidi": "best", "baishiwuliu": "best", "tiantian": "tiantian",
   "zhaijisong": "zjs", "danniao": "danniao", "fengwang": "fengwang", "usps": "usps", "ups": "ups",
   "fedex": "fedex", "dhl": "dhl", "dhlen": "dhl", "顺丰": "sf-express", "顺丰速运": "sf-express",
   "圆通": "yto", "圆通速递": "yto", "中通": "zto", "中通快递": "zto", "申通": "sto", "申通快递": "sto",
   "韵达": "yunda", "韵达快递": "yunda", "邮政": "china-post", "中国邮政": "china-post",
   "邮政快递包裹": "china-post", "京东": "jd", "京东物流": "jd", "极兔速递": "jt-express",
   "德邦": "deppon", "百世快递": "best"} as $table
  | (ascii_downcase | gsub("\\s+"; "")) as $key | $table[$key] // $key;

# A push carries the answer in `lastResult`; a real-time query (poll/query.do) answer is that
# object itself.
(.lastResult // .) as $r
| if ($r.nu | nz) == null then error("bad input: no lastResult.nu (push) or nu (query answer)") else . end
| [$r.data[]? | {
    occurred_at: ((.ftime | nz) // (.time | nz) | cst),
    status: (((.statusCode | nz) | status_of) // ((.status | nz) | word_status)),
    location: (.areaName | nz),
    description: (.context | nz),
    raw_code: ((.statusCode | nz) // (.status | nz))
  }] | newest_first as $events
| ($events[0] // null) as $newest
| ($r.state | if . == null then null else tostring | nz end) as $state
| {
    carrier: ($r.com | nz | if . == null then "unknown" else carrier_code end),
    carrier_name: ($r.com | nz),
    tracking_number: ($r.nu | nz),
    status: (($state | status_of) // $newest.status // "unknown"),
    occurred_at: $newest.occurred_at,
    location: $newest.location,
    description: $newest.description,
    raw_code: ($state // $newest.raw_code),
    events: $events,
    eta: (first_of($r.arrivalTime) | eta_cst)
  }
