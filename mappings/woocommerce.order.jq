# WooCommerce REST API v3 Order -> canonical order (rules: samples/README.md, "woocommerce").
# Follows https://woocommerce.github.io/woocommerce-rest-api-docs/#orders
#
# Input: one Order (GET /wp-json/wc/v3/orders/{id}) or a JSON array of Orders (GET
# /wp-json/wc/v3/orders, one page). Output: one canonical order per WooCommerce order.
#
# - external_id = `id` as a string (not `number`, which order-number plugins change);
#   external_number = `number`; raw_status = `status`.
# - placed_at = `date_created_gmt` + "Z" (the GMT field has no zone; `date_created` is site-local
#   and not used). A missing `date_created_gmt` is an error: the instant cannot be known.
# - customer = billing first + " " + last name, `billing.email`, `billing.phone` else
#   `shipping.phone`; company = `billing.company`.
# - ship_to = `shipping` (first + last name, address_1, address_2, city, state, postcode,
#   country, phone); `null` when the order has no shipping address at all (virtual goods).
#   bill_to = `billing`, likewise.
# - lines = `line_items`: line_ref = line `id`; spec = the display values of the line's visible
#   `meta_data` (keys not starting with "_", i.e. variation attributes and add-ons), joined by
#   " / "; unit_price = `subtotal` / `quantity`, or (`subtotal` + `subtotal_tax`) / `quantity`
#   when `prices_include_tax` (rounded to 4 dp; the float `price` is not used); discount =
#   `subtotal` - `total` (coupons on the line); tax = line `total_tax`. cancelled_quantity is 0:
#   the Order resource does not say which units a refund covered (`refunds[]` has only totals).
# - shipping_fee = sum of `shipping_lines[].total`; tax_total = `total_tax`; discount_total =
#   `discount_total`; total = `total`; refunded_total = sum of |`refunds[].total`| (Woo writes
#   refunds as negative amounts); notes = `customer_note`.
# - status: pending -> pending_payment; processing, on-hold -> open; completed -> fulfilled;
#   cancelled, failed -> cancelled; refunded -> refunded; any other (custom) status -> open;
#   a non-empty `refunds` array on an open or fulfilled order -> partially_refunded.
# - Strings are trimmed; "" becomes null. Money uses the engine's exact decimal_* functions.

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
# Exact sum of amounts (nulls and "" skipped) as a decimal string.
def money_sum: [.[] | nz | values] | decimal_sum;
# "First Last" from the parts that are present, else null.
def full_name: [(.first_name | nz), (.last_name | nz)] | map(values) | join(" ") | nz;

def address:
  if . == null then null else
    {
      name: full_name,
      company: (.company | nz),
      line1: (.address_1 | nz),
      line2: (.address_2 | nz),
      city: (.city | nz),
      region: (.state | nz),
      postal_code: (.postcode | nz),
      country: (.country | nz),
      phone: (.phone | nz)
    }
    | if [.line1, .line2, .city, .postal_code, .country] | all(. == null) then null else . end
  end;

def status:
  (.status // "") as $s
  | ((.refunds // []) | length > 0) as $refunded
  | if $s == "cancelled" or $s == "failed" then "cancelled"
    elif $s == "refunded" then "refunded"
    elif $s == "completed" then (if $refunded then "partially_refunded" else "fulfilled" end)
    elif $s == "pending" then "pending_payment"
    elif $refunded then "partially_refunded"
    else "open" end;

def placed_at:
  (.date_created_gmt | nz) as $t
  | if $t == null then error("bad input: woocommerce order \(.id): no date_created_gmt")
    elif ($t | test("(Z|[+-][0-9]{2}:[0-9]{2})$")) then $t
    else $t + "Z" end;

def line($taxes_included):
  . as $l
  | (if ($l.subtotal | nz) == null then null
     elif $taxes_included then decimal_add($l.subtotal; $l.subtotal_tax | nz // 0)
     else ($l.subtotal | money) end) as $gross
  | {
      line_ref: ($l.id | tostring),
      sku: ($l.sku | nz),
      name: ($l.name | nz),
      spec: ([($l.meta_data // [])[]
               | select((.key // "" | tostring | startswith("_")) | not)
               | first_of(.display_value, .value)
               | select(type == "string")]
             | join(" / ") | nz),
      quantity: $l.quantity,
      cancelled_quantity: 0,
      unit_price: (if $gross == null or ($l.quantity // 0) == 0 then null
                   else decimal_div($gross; $l.quantity) end),
      discount: (if ($l.subtotal | nz) != null and ($l.total | nz) != null
                 then decimal_sub($l.subtotal; $l.total) else null end),
      tax: ($l.total_tax | money)
    };

def order:
  . as $o
  | ($o.prices_include_tax == true) as $taxes_included
  | {
      order_id: null,
      source: {
        connector: "",
        format: "woocommerce",
        channel: "marketplace",
        external_id: ($o.id | identity("woocommerce order id")),
        external_number: ($o.number | nz | if . == null then null else tostring end),
        status: ($o | status),
        raw_status: ($o.status | nz)
      },
      placed_at: ($o | placed_at),
      currency: ($o.currency | nz),
      customer: {
        name: ($o.billing // {} | full_name),
        email: ($o.billing.email | nz),
        phone: first_of($o.billing.phone, $o.shipping.phone),
        company: ($o.billing.company | nz)
      },
      ship_to: ($o.shipping | address),
      bill_to: ($o.billing | address),
      lines: [($o.line_items // [])[] | line($taxes_included)],
      shipping_fee: ([($o.shipping_lines // [])[].total] | money_sum),
      discount_total: ($o.discount_total | money),
      tax_total: ($o.total_tax | money),
      prices_include_tax: $taxes_included,
      total: ($o.total | money),
      refunded_total: ([($o.refunds // [])[].total | nz | values | decimal_abs] | decimal_sum),
      requested_delivery: null,
      notes: ($o.customer_note | nz),
      extraction: null
    };

if type == "array" then .[] | order else order end
