# eBay Sell Fulfillment API v1 Order -> canonical order (rules: samples/README.md, "ebay").
# Follows https://developer.ebay.com/api-docs/sell/fulfillment/resources/order/methods/getOrders
# and the Order type https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:Order
#
# Input: a getOrders page ({"orders": [...], "total", "limit", ...}) or a single Order (getOrder).
# Output: one canonical order per eBay order.
#
# - external_id = `orderId`; external_number = `salesRecordReference` (the Seller Hub record
#   number); raw_status = `orderPaymentStatus`/`orderFulfillmentStatus`/`cancelStatus.cancelState`.
# - placed_at = `creationDate`; currency = `pricingSummary.total.currency` (the seller's
#   currency; `convertedFromValue`/`convertedFromCurrency` are ignored everywhere).
# - customer = `buyer.buyerRegistrationAddress` `fullName`, `email`, `primaryPhone.phoneNumber`,
#   each falling back to the shipTo value; company = `companyName` likewise.
# - ship_to = `fulfillmentStartInstructions[0].shippingStep.shipTo` (fullName, companyName,
#   contactAddress.addressLine1, addressLine2, city, stateOrProvince, postalCode, countryCode,
#   primaryPhone.phoneNumber); null when there is none. bill_to = null.
# - lines = `lineItems`: line_ref = `lineItemId`, `sku`, `title`, spec = the values of
#   `variationAspects` joined by " / ", quantity, unit_price = `lineItemCost.value` / `quantity`
#   (lineItemCost is unit price x quantity, before discounts; rounded to 4 dp), discount = sum of
#   |`appliedPromotions[].discountAmount.value`|, tax = sum of `taxes[].amount.value`.
#   cancelled_quantity = 0: eBay line refunds carry amounts, not units; a cancelled order is
#   carried by the status.
# - shipping_fee = `pricingSummary.deliveryCost.value`; discount_total = |`priceDiscount`| +
#   |`deliveryDiscount`| (eBay may write them negative; "0" when neither is given);
#   tax_total = `pricingSummary.tax.value` (null when absent); total =
#   `pricingSummary.total.value`; refunded_total = sum of `paymentSummary.refunds[].amount.value`
#   whose `refundStatus` is REFUNDED (or not given); notes = `buyerCheckoutNotes`.
# - status: `cancelStatus.cancelState` CANCELED -> cancelled; `orderPaymentStatus`
#   FULLY_REFUNDED -> refunded, PARTIALLY_REFUNDED -> partially_refunded;
#   `orderFulfillmentStatus` FULFILLED -> fulfilled; `orderPaymentStatus` PENDING, FAILED ->
#   pending_payment; else open.
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

def status:
  if .cancelStatus.cancelState == "CANCELED" then "cancelled"
  elif .orderPaymentStatus == "FULLY_REFUNDED" then "refunded"
  elif .orderPaymentStatus == "PARTIALLY_REFUNDED" then "partially_refunded"
  elif .orderFulfillmentStatus == "FULFILLED" then "fulfilled"
  elif .orderPaymentStatus == "PENDING" or .orderPaymentStatus == "FAILED" then "pending_payment"
  else "open" end;

def address:
  if . == null then null else {
    name: (.fullName | nz),
    company: (.companyName | nz),
    line1: (.contactAddress.addressLine1 | nz),
    line2: (.contactAddress.addressLine2 | nz),
    city: (.contactAddress.city | nz),
    region: (.contactAddress.stateOrProvince | nz),
    postal_code: (.contactAddress.postalCode | nz),
    country: (.contactAddress.countryCode | nz),
    phone: (.primaryPhone.phoneNumber | nz)
  } end;

def line:
  . as $l
  | {
      line_ref: ($l.lineItemId | tostring),
      sku: ($l.sku | nz),
      name: ($l.title | nz),
      spec: ([($l.variationAspects // [])[].value | nz | values] | join(" / ") | nz),
      quantity: $l.quantity,
      cancelled_quantity: 0,
      unit_price: (($l.lineItemCost.value | nz) as $cost
                   | if $cost == null or ($l.quantity // 0) == 0 then null
                     else decimal_div($cost; $l.quantity) end),
      discount: ([($l.appliedPromotions // [])[].discountAmount.value | nz | values | decimal_abs]
                 | decimal_sum),
      tax: ([($l.taxes // [])[].amount.value] | money_sum)
    };

def order:
  . as $o
  | ($o.fulfillmentStartInstructions // [] | first(.[] | .shippingStep.shipTo // empty) // null)
      as $ship
  | ($o.buyer.buyerRegistrationAddress // {}) as $buyer
  | {
      order_id: null,
      source: {
        connector: "",
        format: "ebay",
        channel: "marketplace",
        external_id: ($o.orderId | identity("ebay orderId")),
        external_number: ($o.salesRecordReference | nz),
        status: ($o | status),
        raw_status: ([$o.orderPaymentStatus, $o.orderFulfillmentStatus, $o.cancelStatus.cancelState]
                     | map(nz | values) | join("/") | nz)
      },
      placed_at: $o.creationDate,
      currency: first_of($o.pricingSummary.total.currency),
      customer: {
        name: first_of($buyer.fullName, $ship.fullName),
        email: first_of($buyer.email, $ship.email),
        phone: first_of($buyer.primaryPhone.phoneNumber, $ship.primaryPhone.phoneNumber),
        company: first_of($buyer.companyName, $ship.companyName)
      },
      ship_to: ($ship | address),
      bill_to: null,
      lines: [($o.lineItems // [])[] | line],
      shipping_fee: ($o.pricingSummary.deliveryCost.value | money),
      discount_total: ([$o.pricingSummary.priceDiscount.value, $o.pricingSummary.deliveryDiscount.value]
                       | map(nz | values | decimal_abs) | decimal_sum),
      tax_total: ($o.pricingSummary.tax.value | money),
      total: ($o.pricingSummary.total.value | money),
      refunded_total: ([($o.paymentSummary.refunds // [])[]
                        | select(.refundStatus == null or .refundStatus == "REFUNDED")
                        | .amount.value] | money_sum),
      requested_delivery: null,
      notes: ($o.buyerCheckoutNotes | nz),
      extraction: null
    };

if type == "object" and has("orders") then (.orders // [])[] | order else order end
