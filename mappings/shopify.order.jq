# Shopify Admin REST 2024-10 Order -> canonical order (rules: samples/README.md, "shopify").
#
# Input: a list page {"orders": [...]}, a single {"order": {...}}, or a bare Order (webhook
# body). Output: one canonical order per Shopify order.
#
# Money: copied from the plain string fields (shop money; presentment_money is ignored). Sums
# (shipping lines, discount allocations, tax lines, refund transactions) use the engine's exact
# `decimal_sum` (never jq `+`, which goes through binary floats); missing amounts are skipped.
# refunded_total: sum of refunds[].transactions[] with kind "refund" and status "success";
# "0.00" when there are no such transactions (Shopify list/webhook bodies may omit transactions,
# then the refund amount is unknown and financial_status still tells the state).
# cancelled_quantity: sum of refunds[].refund_line_items[].quantity for the line.

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
# Exact sum of decimal amounts (strings or numbers; nulls and "" skipped) as a decimal string.
def money_sum: [.[] | nz | values] | decimal_sum;
def money: if . == null then null else nz end;

def address:
  if . == null then null else {
    name: (.name | nz),
    company: (.company | nz),
    line1: (.address1 | nz),
    line2: (.address2 | nz),
    city: (.city | nz),
    region: first_of(.province_code, .province),
    postal_code: (.zip | nz),
    country: (.country_code | nz),
    phone: (.phone | nz)
  } end;

def status:
  if (.cancelled_at | nz) != null then "cancelled"
  elif .financial_status == "refunded" then "refunded"
  elif .financial_status == "partially_refunded" then "partially_refunded"
  elif .fulfillment_status == "fulfilled" then "fulfilled"
  elif .financial_status == "pending" then "pending_payment"
  else "open" end;

def order:
  . as $o
  | [($o.refunds // [])[] | (.refund_line_items // [])[]] as $refunded_lines
  | [($o.refunds // [])[] | (.transactions // [])[]
      | select(.kind == "refund" and .status == "success") | .amount] as $refund_amounts
  | {
      order_id: null,
      source: {
        connector: "",
        format: "shopify",
        channel: "marketplace",
        external_id: ($o.id | identity("shopify order id")),
        external_number: ($o.name | nz),
        status: ($o | status),
        raw_status: "\($o.financial_status // "unknown")/\($o.fulfillment_status // "unfulfilled")"
      },
      placed_at: $o.created_at,
      currency: ($o.currency | nz),
      customer: {
        name: ($o.billing_address.name | nz),
        email: ($o.email | nz),
        phone: first_of($o.phone, $o.billing_address.phone, $o.customer.phone, $o.shipping_address.phone),
        company: ($o.billing_address.company | nz)
      },
      ship_to: ($o.shipping_address | address),
      bill_to: ($o.billing_address | address),
      lines: [($o.line_items // [])[] | . as $l | {
        line_ref: ($l.id | tostring),
        sku: ($l.sku | nz),
        name: ($l.name | nz),
        spec: ($l.variant_title | nz),
        quantity: $l.quantity,
        cancelled_quantity: ([$refunded_lines[] | select(.line_item_id == $l.id) | .quantity] | add // 0),
        unit_price: ($l.price | money),
        discount: ([($l.discount_allocations // [])[].amount] | money_sum),
        tax: ([($l.tax_lines // [])[].price] | money_sum)
      }],
      shipping_fee: ([($o.shipping_lines // [])[].price] | money_sum),
      discount_total: ($o.total_discounts | money),
      tax_total: ($o.total_tax | money),
      prices_include_tax: ($o.taxes_included == true),
      total: ($o.total_price | money),
      refunded_total: (if ($refund_amounts | length) > 0 then ($refund_amounts | money_sum) else "0.00" end),
      requested_delivery: null,
      notes: ($o.note | nz),
      extraction: null
    };

if type == "object" and has("orders") then .orders[] | order
elif type == "object" and has("order") then .order | order
else order end
