# cXML 1.2 OrderRequest -> canonical order (cXML Reference Guide and DTD, https://cxml.org/;
# rules: samples/README.md, "cxml").
#
# Input: the document as decoded by src/normalize/xml.rs: {"cXML": {...}}; every element is an
# object, children are arrays by local name, attributes are "@name", own text is "#text"
# (trimmed; without the children's text). Output: one order per OrderRequest.
#
# - external_id = OrderRequestHeader/@orderID; external_number null (cXML has no separate
#   human-facing number); placed_at = @orderDate; currency = Total/Money/@currency.
# - status: @type new, update -> open; delete -> cancelled; raw_status = @type.
# - customer = BillTo/Address: Name, Email, Phone as "+" CountryCode AreaOrCityCode Number (no
#   other reformatting; no "+" when CountryCode is absent), else the ShipTo phone.
# - ship_to / bill_to = the Address: name = first PostalAddress/DeliverTo (else Address/Name; the
#   Address/Name is then the company), first and second Street, City, State, PostalCode,
#   Country/@isoCountryCode (else Address/@isoCountryCode).
# - lines = ItemOut: line_ref = @lineNumber (else the position), ItemID/SupplierPartID, the text
#   of ItemDetail/Description without its ShortName child (ShortName when there is no other
#   text), @quantity, ItemDetail/UnitPrice/Money, tax = ItemOut/Tax/Money.
# - total = OrderRequestHeader/Total/Money as sent (Tax and Shipping are not added); shipping_fee
#   = Shipping/Money, tax_total = Tax/Money. Amounts are copied, never computed.
# - requested_delivery = OrderRequestHeader/@requestedDeliveryDate, else the first ItemOut's.

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

# A cXML Phone element as "+" CountryCode AreaOrCityCode Number; null without a Number.
def phone:
  .TelephoneNumber[0] as $n
  | ($n.Number[0] | t) as $number
  | if $number == null then null
    else (($n.CountryCode[0] | t) as $cc | if $cc == null then "" else "+" + $cc end)
      + (($n.AreaOrCityCode[0] | t) // "") + $number
    end;

# A cXML Address element as a canonical address.
def address:
  if . == null then null else
    . as $a
    | $a.PostalAddress[0] as $p
    | first_of($p.DeliverTo[]? | t) as $deliver_to
    | ($a.Name[0] | t) as $name
    | {
        name: ($deliver_to // $name),
        company: (if $deliver_to != null then $name else null end),
        line1: ($p.Street[0] | t),
        line2: ($p.Street[1] | t),
        city: ($p.City[0] | t),
        region: ($p.State[0] | t),
        postal_code: ($p.PostalCode[0] | t),
        country: first_of($p.Country[0]["@isoCountryCode"], $a["@isoCountryCode"]),
        phone: first_of($a.Phone[]? | phone)
      }
  end;

def status:
  if (.["@type"] | nz) == "delete" then "cancelled" else "open" end;

def line($i):
  . as $l
  | $l.ItemDetail[0] as $d
  | {
      line_ref: first_of($l["@lineNumber"], ($i + 1 | tostring)),
      sku: ($l.ItemID[0].SupplierPartID[0] | t),
      name: first_of(($d.Description[0] | t), ($d.Description[0].ShortName[0] | t)),
      spec: null,
      quantity: ($l["@quantity"] | nz
        | if . == null then error("bad input: ItemOut \($i + 1) has no quantity") else tonumber end),
      cancelled_quantity: 0,
      unit_price: ($d.UnitPrice[0].Money[0] | t),
      discount: null,
      tax: ($l.Tax[0].Money[0] | t)
    };

def order($cxml):
  . as $r
  | $r.OrderRequestHeader[0] as $h
  | ($h.BillTo[0].Address[0] | address) as $bill_to
  | ($h.ShipTo[0].Address[0] | address) as $ship_to
  | [$r.ItemOut[]?] as $items
  | {
      order_id: null,
      source: {
        connector: "",
        format: "cxml",
        channel: "edi",
        external_id: ($h["@orderID"] | identity("cXML OrderRequestHeader orderID")),
        external_number: null,
        status: ($h | status),
        raw_status: ($h["@type"] | nz)
      },
      placed_at: first_of($h["@orderDate"], $cxml["@timestamp"]),
      currency: first_of($h.Total[0].Money[0]["@currency"],
        ($items[] | .ItemDetail[0].UnitPrice[0].Money[0]["@currency"])),
      customer: {
        name: ($h.BillTo[0].Address[0].Name[0] | t),
        email: ($h.BillTo[0].Address[0].Email[0] | t),
        phone: first_of($bill_to.phone, $ship_to.phone),
        company: null
      },
      ship_to: $ship_to,
      bill_to: $bill_to,
      lines: [$items | to_entries[] | .key as $i | .value | line($i)],
      shipping_fee: ($h.Shipping[0].Money[0] | t),
      discount_total: null,
      tax_total: ($h.Tax[0].Money[0] | t),
      total: ($h.Total[0].Money[0] | t),
      refunded_total: null,
      requested_delivery: first_of($h["@requestedDeliveryDate"],
        ($items[] | .["@requestedDeliveryDate"])),
      notes: ($h.Comments[0] | t),
      extraction: null
    };

if type == "object" and has("cXML") then
  .cXML as $cxml
  | [$cxml.Request[]?.OrderRequest[]?] as $requests
  | if ($requests | length) == 0 then error("bad input: cXML document has no OrderRequest")
    else $requests[] | order($cxml) end
else
  error("bad input: not a cXML document (root element \(if type == "object" then keys[0] else type end))")
end
