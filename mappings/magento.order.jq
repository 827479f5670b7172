# Adobe Commerce / Magento 2.4 REST salesOrderRepositoryV1 -> canonical order (rules:
# samples/README.md, "magento"). Follows https://adobe-commerce.redoc.ly/2.4.7-admin/tag/orders
#
# Input: one order (GET /rest/V1/orders/{id}) or a search result (GET
# /rest/V1/orders?searchCriteria…: {"items": [orders], "search_criteria", "total_count"}).
# An object with `increment_id` or `entity_id` is an order (whose own `items` are its order
# items); otherwise `items` lists orders. Output: one canonical order per Magento order.
#
# - external_id = `increment_id`; external_number = null (the increment id is the number people
#   see); raw_status = `state`/`status`.
# - placed_at = `created_at` ("YYYY-MM-DD HH:MM:SS", UTC) as RFC 3339 with "Z".
# - currency = `order_currency_code`; all amounts are the order-currency fields (not `base_*`).
# - customer = `customer_firstname` + " " + `customer_lastname` (guest orders without them: the
#   billing address's names), `customer_email`, `billing_address.telephone` else the shipping
#   address telephone; company = `billing_address.company`.
# - ship_to = `extension_attributes.shipping_assignments[0].shipping.address`: firstname + " " +
#   lastname, company, street[0], street[1], city, `region_code` else `region`, postcode,
#   country_id, telephone; null for virtual orders without one. bill_to = `billing_address`.
# - lines = `items` without `parent_item_id` (configurable/bundle children are not lines):
#   line_ref = `item_id`, `sku`, `name`, spec = the child row's name when it differs from the
#   parent's (configurable variant), quantity = `qty_ordered`, cancelled_quantity =
#   `qty_canceled` + `qty_refunded`, unit_price = `price` (excluding tax, before discount),
#   discount = `discount_amount`, tax = `tax_amount`.
# - shipping_fee = `shipping_amount`; discount_total = |`discount_amount`| (Magento writes it
#   negative); tax_total = `tax_amount`; total = `grand_total`; refunded_total =
#   `total_refunded` ("0" when absent); notes = `customer_note`.
# - status by `state`: canceled -> cancelled; closed -> refunded; `total_refunded` > 0 ->
#   partially_refunded; complete -> fulfilled; pending_payment, payment_review ->
#   pending_payment; else (new, processing, holded, ...) open.
# - Strings are trimmed; "" becomes null. Money uses the engine's exact decimal_* functions
#   (Magento sends amounts as JSON numbers; their text is kept exactly).

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
# An amount as a decimal string, or null when absent.
def money: nz | if . == null then null else decimal end;
# "First Last" from the parts that are present, else null.
def full_name(first; last): [(first | nz), (last | nz)] | map(values) | join(" ") | nz;
# Whether an amount is present and above zero.
def positive: money | . != null and tonumber > 0;

def status:
  (.state // "") as $s
  | if $s == "canceled" then "cancelled"
    elif $s == "closed" then "refunded"
    elif (.total_refunded | positive) then "partially_refunded"
    elif $s == "complete" then "fulfilled"
    elif $s == "pending_payment" or $s == "payment_review" then "pending_payment"
    else "open" end;

def address:
  if . == null then null else {
    name: full_name(.firstname; .lastname),
    company: (.company | nz),
    line1: (.street // [] | .[0] | nz),
    line2: (.street // [] | .[1] | nz),
    city: (.city | nz),
    region: first_of(.region_code, .region),
    postal_code: (.postcode | nz),
    country: (.country_id | nz),
    phone: (.telephone | nz)
  } end;

def lines:
  (.items // []) as $items
  | [$items[] | select(.parent_item_id == null) | . as $l
     | ([$items[] | select(.parent_item_id != null and .parent_item_id == $l.item_id)
         | .name | nz | values | select(. != ($l.name | nz))]) as $variants
     | {
         line_ref: ($l.item_id | tostring),
         sku: ($l.sku | nz),
         name: ($l.name | nz),
         spec: (if $l.product_type == "configurable" and ($variants | length) == 1
                then $variants[0] else null end),
         quantity: ($l.qty_ordered | nz | tonumber),
         cancelled_quantity: (decimal_add($l.qty_canceled | nz // 0; $l.qty_refunded | nz // 0)
                              | tonumber),
         unit_price: ($l.price | money),
         discount: ($l.discount_amount | money),
         tax: ($l.tax_amount | money)
       }];

def order:
  . as $o
  | ($o.extension_attributes.shipping_assignments // []
     | first(.[] | .shipping.address // empty) // null) as $ship
  | {
      order_id: null,
      source: {
        connector: "",
        format: "magento",
        channel: "marketplace",
        external_id: ($o.increment_id | identity("magento increment_id")),
        external_number: null,
        status: ($o | status),
        raw_status: ([$o.state, $o.status] | map(nz | values) | join("/") | nz)
      },
      placed_at: (($o.created_at | nz) as $t
                  | if $t == null then error("bad input: magento order \($o.increment_id): no created_at")
                    elif ($t | test("(Z|[+-][0-9]{2}:[0-9]{2})$")) then $t | sub(" "; "T")
                    else ($t | sub(" "; "T")) + "Z" end),
      currency: ($o.order_currency_code | nz),
      customer: {
        name: first_of(full_name($o.customer_firstname; $o.customer_lastname),
                       full_name($o.billing_address.firstname; $o.billing_address.lastname)),
        email: ($o.customer_email | nz),
        phone: first_of($o.billing_address.telephone, $ship.telephone),
        company: ($o.billing_address.company | nz)
      },
      ship_to: ($ship | address),
      bill_to: ($o.billing_address | address),
      lines: ($o | lines),
      shipping_fee: ($o.shipping_amount | money),
      discount_total: ($o.discount_amount | money | if . == null then null else decimal_abs end),
      tax_total: ($o.tax_amount | money),
      total: ($o.grand_total | money),
      refunded_total: ($o.total_refunded | money // "0"),
      requested_delivery: null,
      notes: ($o.customer_note | nz),
      extraction: null
    };

if type == "object" and (has("increment_id") or has("entity_id")) then order
elif type == "object" and has("items") then (.items // [])[] | order
else error("bad input: magento: expected an order or a search result with items, got \(type)") end
