# Amazon Selling Partner API, Orders API v0 -> canonical order (rules: samples/README.md,
# "amazon"). Follows https://developer-docs.amazon.com/sp-api/docs/orders-api-v0-reference and
# its model ordersV0.json (getOrders, getOrder, getOrderItems).
#
# Input, one of:
# - an array [orders, items, ...]: `orders` is a getOrders response ({"payload":{"Orders":[…]}}),
#   a getOrder response ({"payload": Order}) or a bare Order; each following element is a
#   getOrderItems response ({"payload":{"AmazonOrderId", "OrderItems":[…]}}) or its payload.
#   This is what the normalizer gives for the two documents [getOrders.json, getOrderItems.json].
# - a single combined object {"Order": Order, "OrderItems": [OrderItem, …]}: what the pull
#   connector stores as the raw document of one order.
# Items are matched to orders by AmazonOrderId when the items response carries it; a response
# without it belongs to the only order there is (several orders -> error). One canonical order
# is produced per order that has an items response; orders of a getOrders page whose items are
# not given are left out (they arrive in their own documents); none matched -> error. Only
# getOrders (no items at all) -> error: an order without its lines must not pass as empty.
#
# - external_id = `AmazonOrderId`; external_number = `SellerOrderId` when it differs;
#   raw_status = `OrderStatus`; placed_at = `PurchaseDate`; currency = `OrderTotal.CurrencyCode`
#   (else the first item's `ItemPrice.CurrencyCode`).
# - customer = `BuyerInfo.BuyerName` (else `ShippingAddress.Name`), `BuyerInfo.BuyerEmail`,
#   `ShippingAddress.Phone`; company = `BuyerInfo.BuyerTaxInfo.CompanyLegalName`, else
#   `ShippingAddress.CompanyName`. (Older payloads' top-level BuyerName/BuyerEmail are read too.)
# - ship_to = `ShippingAddress` (Name, CompanyName, AddressLine1, AddressLine2, City,
#   StateOrRegion, PostalCode, CountryCode, Phone); null when absent (e.g. Pending orders).
#   bill_to = null (getOrders does not give one).
# - lines = `OrderItems`: line_ref = `OrderItemId`, `SellerSKU`, `Title`, quantity =
#   `QuantityOrdered`, unit_price = `ItemPrice.Amount` / `QuantityOrdered` (ItemPrice is
#   price x quantity; null when ItemPrice is absent or the quantity is 0, as on cancelled
#   orders), discount = `PromotionDiscount.Amount`, tax = `ItemTax.Amount`.
#   cancelled_quantity = 0: the items response does not say how many units were cancelled
#   (QuantityOrdered - QuantityShipped is "not shipped yet", not "cancelled"); a cancelled order
#   is carried by the status.
# - shipping_fee = sum of items' `ShippingPrice.Amount`; discount_total = sum of items'
#   `PromotionDiscount` + `ShippingDiscount`; tax_total = sum of items' `ItemTax` +
#   `ShippingTax` + `GiftWrapTax`; total = `OrderTotal.Amount`; refunded_total = null (the
#   Orders API does not report refunds).
# - status: Canceled, Unfulfillable -> cancelled; Shipped, InvoiceUnconfirmed -> fulfilled;
#   FulfillmentChannel AFN (fulfilled by Amazon) -> fulfilled (ARCHITECTURE §4: not ours to
#   ship); Pending, PendingAvailability -> pending_payment; Unshipped, PartiallyShipped and any
#   other -> open.
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

# The orders of a getOrders / getOrder response or a bare Order.
def orders_of:
  (if type == "object" and has("payload") then .payload else . end)
  | if type == "object" and has("Orders") then (.Orders // [])[]
    elif type == "object" and has("AmazonOrderId") then .
    else error("bad input: amazon: expected a getOrders response or an Order, got \(type)") end;

# {id, items} of a getOrderItems response (or its payload, or a bare item array).
def items_of:
  (if type == "object" and has("payload") then .payload else . end)
  | if type == "array" then {id: null, items: .}
    elif type == "object" and has("OrderItems") then {id: (.AmazonOrderId | nz), items: (.OrderItems // [])}
    else error("bad input: amazon: expected a getOrderItems response, got \(type)") end;

# [[Order, [OrderItem]]] from any accepted input shape.
def pairs:
  if type == "object" and has("Order") then
    [[.Order, (.OrderItems // [] | if type == "object" then items_of.items else . end)]]
  elif type == "array" and length >= 2 then
    [.[0] | orders_of] as $orders
    | [.[1:][] | items_of] as $responses
    | [$orders[] as $o
       | ([$responses[] | select(.id == null or .id == $o.AmazonOrderId)]) as $mine
       | select(($mine | length) > 0)
       | if ([$mine[] | select(.id == null)] | length) > 0 and ($orders | length) > 1 then
           error("bad input: amazon: a getOrderItems response without AmazonOrderId cannot be matched to one of \($orders | length) orders")
         else [$o, [$mine[].items[]]] end]
    | if length == 0 then
        error("bad input: amazon: no getOrderItems response matches the orders (\([$orders[].AmazonOrderId] | join(", ")))")
      else . end
  else
    error("bad input: amazon: order items missing: give [getOrders, getOrderItems] or {\"Order\": …, \"OrderItems\": […]}")
  end;

def status:
  (.OrderStatus // "") as $s
  | if $s == "Canceled" or $s == "Unfulfillable" then "cancelled"
    elif $s == "Shipped" or $s == "InvoiceUnconfirmed" then "fulfilled"
    elif .FulfillmentChannel == "AFN" then "fulfilled"
    elif $s == "Pending" or $s == "PendingAvailability" then "pending_payment"
    else "open" end;

def address:
  if . == null then null else {
    name: (.Name | nz),
    company: (.CompanyName | nz),
    line1: (.AddressLine1 | nz),
    line2: (.AddressLine2 | nz),
    city: (.City | nz),
    region: (.StateOrRegion | nz),
    postal_code: (.PostalCode | nz),
    country: (.CountryCode | nz),
    phone: (.Phone | nz)
  } end;

def line:
  . as $i
  | {
      line_ref: ($i.OrderItemId | tostring),
      sku: ($i.SellerSKU | nz),
      name: ($i.Title | nz),
      spec: null,
      quantity: ($i.QuantityOrdered // 0),
      cancelled_quantity: 0,
      unit_price: (($i.ItemPrice.Amount | nz) as $a
                   | if $a == null or ($i.QuantityOrdered // 0) == 0 then null
                     else decimal_div($a; $i.QuantityOrdered) end),
      discount: ($i.PromotionDiscount.Amount | money),
      tax: ($i.ItemTax.Amount | money)
    };

def order($items):
  . as $o
  | {
      order_id: null,
      source: {
        connector: "",
        format: "amazon",
        channel: "marketplace",
        external_id: ($o.AmazonOrderId | identity("amazon AmazonOrderId")),
        external_number: (($o.SellerOrderId | nz) as $n
                          | if $n == null or $n == $o.AmazonOrderId then null else $n end),
        status: ($o | status),
        raw_status: ($o.OrderStatus | nz)
      },
      placed_at: $o.PurchaseDate,
      currency: first_of($o.OrderTotal.CurrencyCode, $items[].ItemPrice.CurrencyCode),
      customer: {
        name: first_of($o.BuyerInfo.BuyerName, $o.BuyerName, $o.ShippingAddress.Name),
        email: first_of($o.BuyerInfo.BuyerEmail, $o.BuyerEmail),
        phone: ($o.ShippingAddress.Phone | nz),
        company: first_of($o.BuyerInfo.BuyerTaxInfo.CompanyLegalName, $o.ShippingAddress.CompanyName)
      },
      ship_to: ($o.ShippingAddress | address),
      bill_to: null,
      lines: [$items[] | line],
      shipping_fee: ([$items[].ShippingPrice.Amount] | money_sum),
      discount_total: ([$items[] | .PromotionDiscount.Amount, .ShippingDiscount.Amount] | money_sum),
      tax_total: ([$items[] | .ItemTax.Amount, .ShippingTax.Amount, .GiftWrapTax.Amount] | money_sum),
      total: ($o.OrderTotal.Amount | money),
      refunded_total: null,
      requested_delivery: null,
      notes: null,
      extraction: null
    };

pairs[] as [$o, $items] | $o | order($items)
