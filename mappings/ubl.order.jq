# OASIS UBL 2.1 Order as profiled by Peppol BIS Ordering 3 -> canonical order
# (https://docs.oasis-open.org/ubl/os-UBL-2.1/UBL-2.1.html,
# https://docs.peppol.eu/poacc/upgrade-3/syntax/Order/tree/; rules: samples/README.md, "ubl").
#
# Input: the document as decoded by src/normalize/xml.rs: {"Order": {...}}; names are local
# names, so any prefixes (cbc:, cac:, a default namespace, others) map the same; every element
# is an object, children are arrays, attributes are "@name", own text is "#text" (trimmed).
#
# - external_id = cbc:ID; external_number null; placed_at = cbc:IssueDate "T" cbc:IssueTime
#   (which carries its own offset; a time without one is read as UTC, no IssueTime as
#   00:00:00Z); currency = cbc:DocumentCurrencyCode.
# - status: open (a UBL Order cannot cancel; that is an OrderCancellation document);
#   raw_status null.
# - customer = cac:BuyerCustomerParty/cac:Party: cac:PartyName/cbc:Name,
#   cac:Contact/cbc:ElectronicMail, cac:Contact/cbc:Telephone (else the DeliveryParty's).
# - ship_to = the first cac:Delivery: name = cac:DeliveryParty/cac:PartyName/cbc:Name (else the
#   buyer's), address = cac:DeliveryLocation/cac:Address (else cac:DeliveryAddress): StreetName,
#   AdditionalStreetName, CityName, CountrySubentity, PostalZone, Country/IdentificationCode;
#   null without a Delivery. bill_to = cac:AccountingCustomerParty/cac:Party, null if absent.
# - lines = cac:OrderLine/cac:LineItem: line_ref = cbc:ID, sku =
#   cac:Item/cac:SellersItemIdentification/cbc:ID, name = cac:Item/cbc:Name, quantity =
#   cbc:Quantity, unit_price = cac:Price/cbc:PriceAmount / cac:Price/cbc:BaseQuantity (1 when
#   absent). The division is exact decimal arithmetic on digit strings (dec_div below; jq
#   numbers are binary floats), rounded half up at 12 decimals when it does not terminate.
# - total = cac:AnticipatedMonetaryTotal/cbc:PayableAmount; tax_total = cac:TaxTotal/cbc:TaxAmount;
#   discount_total = AllowanceTotalAmount. Amounts are copied as sent.
# - requested_delivery = cac:Delivery/cac:RequestedDeliveryPeriod/cbc:StartDate; notes =
#   the cbc:Note texts joined by newlines.

# Trimmed string, "" -> null; other values unchanged.
def nz: if type == "string" then (trim | if . == "" then null else . end) else . end;
# The source's id of the order as text. A document without one is bad input: turned into the
# text "null" it would make every such document the same order.
def identity($field):
  (if type == "number" then tostring elif type == "string" then trim else null end)
  | if . == null or . == "" or ascii_downcase == "null"
    then error("bad input: \($field) is missing or empty: the order has no identity") else . end;
# First non-null, non-empty value of f, else null.
def first_of(f): first((f | nz | select(. != null)), null);
# An element's own text (null for a missing element).
def t: .["#text"] | nz;

# "0" repeated n times.
def zeros($n): [range($n) | "0"] | join("");
# A decimal string as {neg, digits (string, no sign or point), scale}; errors on anything else.
def dec_parse:
  tostring | trim | . as $text
  | startswith("-") as $neg
  | ltrimstr("-") | ltrimstr("+") | split(".") as $p
  | ($p[0] + ($p[1] // "")) as $digits
  | if ($p | length) > 2 or ($digits | length) == 0
       or ($digits | explode | all(. >= 48 and . <= 57) | not)
    then error("bad input: a price or base quantity is not a decimal number")
    else {neg: $neg, digits: $digits, scale: (($p[1] // "") | length)} end;
# Digit array + 1, with carry.
def digits_incr:
  reduce range(length - 1; -1; -1) as $i ({a: ., c: 1};
    if .c == 0 then . else (.a[$i] + 1) as $v
      | if $v == 10 then .a[$i] = 0 else .a[$i] = $v | .c = 0 end end)
  | if .c == 1 then [1] + .a else .a end;
# $a / $b for decimal strings, exactly: long division on digits with integer steps only,
# 12 fraction digits, rounded half up; trailing zeros dropped. null when $b is zero.
def dec_div($a; $b):
  12 as $prec
  | ($a | dec_parse) as $x | ($b | dec_parse) as $y
  # a/b = (X * 10^sy) / (Y * 10^sx); scale the numerator by 10^prec for the fraction digits.
  | (($y.digits + zeros($x.scale)) | tonumber) as $den
  | if $den == 0 then null else
      ($x.digits + zeros($y.scale + $prec)) as $num
      | reduce ($num | explode[] | . - 48) as $d ({q: [], r: 0};
          (.r * 10 + $d) as $v
          | ([range(9; -1; -1) | select(. * $den <= $v)][0]) as $digit
          | .q += [$digit] | .r = $v - $digit * $den)
      | (if .r * 2 >= $den then .q | digits_incr else .q end) as $q
      | ($q | map(tostring) | join("")) as $s
      | (zeros([$prec + 1 - ($s | length), 0] | max) + $s) as $s
      | ($s[0:($s | length) - $prec] | explode
          | until(length <= 1 or .[0] != 48; .[1:]) | implode) as $int
      | ($s[($s | length) - $prec:] | sub("0+$"; "")) as $frac
      | ($int + (if $frac == "" then "" else "." + $frac end)) as $abs
      | if ($x.neg != $y.neg) and ($abs | test("[1-9]")) then "-" + $abs else $abs end
    end;

# Placed-at instant from IssueDate and IssueTime.
def placed_at:
  (.IssueDate[0] | t) as $date
  | (.IssueTime[0] | t) as $time
  | if $date == null then null
    elif $time == null then $date + "T00:00:00Z"
    elif ($time | endswith("Z")) or ($time | test("[+-][0-9]{2}:[0-9]{2}$")) then $date + "T" + $time
    else $date + "T" + $time + "Z" end;

def party_name: first_of(.PartyName[]?.Name[]? | t);

# A UBL Address (cac:Address, cac:PostalAddress) with a name and phone.
def address($name; $phone):
  {
    name: $name,
    company: null,
    line1: (.StreetName[0] | t),
    line2: (.AdditionalStreetName[0] | t),
    city: (.CityName[0] | t),
    region: (.CountrySubentity[0] | t),
    postal_code: (.PostalZone[0] | t),
    country: (.Country[0].IdentificationCode[0] | t),
    phone: $phone
  };

def unit_price:
  (.PriceAmount[0] | t) as $amount
  | (.BaseQuantity[0] | t) as $base
  | if $amount == null then null
    elif $base == null then $amount
    else dec_div($amount; $base) end;

def line($i):
  . as $l
  | {
      line_ref: first_of(($l.ID[0] | t), ($i + 1 | tostring)),
      sku: ($l.Item[0].SellersItemIdentification[0].ID[0] | t),
      name: ($l.Item[0].Name[0] | t),
      spec: null,
      quantity: ($l.Quantity[0] | t
        | if . == null then error("bad input: order line \($i + 1) has no Quantity") else tonumber end),
      cancelled_quantity: 0,
      unit_price: ($l.Price[0] | unit_price),
      discount: null,
      tax: null
    };

def order:
  . as $o
  | $o.BuyerCustomerParty[0].Party[0] as $buyer
  | $o.Delivery[0] as $delivery
  | $delivery.DeliveryParty[0] as $delivery_party
  | ($delivery_party.Contact[0].Telephone[0] | t) as $delivery_phone
  | {
      order_id: null,
      source: {
        connector: "",
        format: "ubl",
        channel: "edi",
        external_id: ($o.ID[0] | t | identity("UBL Order cbc:ID")),
        external_number: null,
        status: "open",
        raw_status: null
      },
      placed_at: ($o | placed_at),
      currency: ($o.DocumentCurrencyCode[0] | t),
      customer: {
        name: ($buyer | party_name),
        email: ($buyer.Contact[0].ElectronicMail[0] | t),
        phone: first_of(($buyer.Contact[0].Telephone[0] | t), $delivery_phone),
        company: null
      },
      ship_to: (if $delivery == null then null else
        (first_of($delivery_party | party_name) // ($buyer | party_name)) as $name
        | ($delivery.DeliveryLocation[0].Address[0] // $delivery.DeliveryAddress[0] // {})
        | address($name; $delivery_phone)
      end),
      bill_to: ($o.AccountingCustomerParty[0].Party[0]
        | if . == null then null else
            party_name as $name | (.Contact[0].Telephone[0] | t) as $phone
            | (.PostalAddress[0] // {}) | address($name; $phone)
          end),
      lines: [[$o.OrderLine[]?.LineItem[]?] | to_entries[] | .key as $i | .value | line($i)],
      shipping_fee: null,
      discount_total: ($o.AnticipatedMonetaryTotal[0].AllowanceTotalAmount[0] | t),
      tax_total: ($o.TaxTotal[0].TaxAmount[0] | t),
      total: ($o.AnticipatedMonetaryTotal[0].PayableAmount[0] | t),
      refunded_total: null,
      requested_delivery: ($delivery.RequestedDeliveryPeriod[0].StartDate[0] | t),
      notes: ([$o.Note[]? | t | select(. != null)] | if length == 0 then null else join("\n") end),
      extraction: null
    };

if type == "object" and has("Order") then .Order | order
else error("bad input: not a UBL Order document (root element \(if type == "object" then keys[0] else type end))")
end
