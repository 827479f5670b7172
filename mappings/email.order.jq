# E-mail order (RFC 5322 message) -> canonical order (rules: samples/README.md, "email").
#
# Input: the message as decoded by src/normalize/email/mod.rs: {kind, message, document,
# fields: {"<canonical path>": {value, confidence}}, lines, problems, b2b_orders?}. The facts
# were extracted from the body, a CSV attachment of lines, or a PDF form; each has a confidence.
#
# - external_id = the PO / order reference ("PO #2219" -> "2219"); without one, the Message-ID
#   keeps the order's identity and source.external_id is reported missing (the order is held);
#   placed_at = the Date header; currency as stated (code or symbol), else the sender template's.
# - customer = the From display name and address (a labelled contact when From has no name);
#   phone = a labelled phone, else the signature's; else the delivery place's.
# - ship_to = the delivery block; its name falls back to the customer's company or name when
#   a delivery place (street or city) was read.
# - lines from the CSV attachment when there is one, else the body's table or bullets.
# - total = the stated total, else null. status = open.
# - extraction = {confidence: the lowest confidence of the required facts and lines found,
#   missing: the required facts not found, doubts: the facts that failed a cross-check or
#   compete with another reading (from the decoder), document: null (the stage fills it)}.
#   Required: source.external_id, customer.name, customer.phone (when there is no e-mail), ship_to.line1,
#   ship_to.city, ship_to.country, currency, lines, each line's unit_price.
# - A cXML or UBL attachment: the B2B mapping's orders (b2b_orders), marked as come by mail.

# The body below is the same in email.order.jq and fax.order.jq (mappings have no includes).

# Trimmed string, "" -> null.
def nz: if type == "string" then (trim | if . == "" then null else . end) else . end;
# The value and confidence of an extracted fact.
def v($f; $k): $f[$k].value | nz;
def conf($f; $k): $f[$k].confidence;

# Where replies go: the thread of the message (origin.mailbox is filled in by the stage).
def origin($m):
  ($m // {}) as $m
  | {
      mailbox: null,
      message_id: ($m.message_id | nz),
      references: (reduce (($m.references // [])[], ($m.in_reply_to // [])[] | nz | select(. != null)) as $r
        ([]; if index([$r]) then . else . + [$r] end)),
      reply_to: (($m.reply_to | nz) // ($m.from.address | nz)),
      subject: ($m.subject | nz)
    };

def mail_order($format):
  . as $d
  | ($d.fields // {}) as $f
  # A line whose quantity the sender left undecided ("10 or 12") stays, without one: the
  # order is held for it (the normalize stage reports the empty quantity), never shipped
  # short of the line.
  | [($d.lines // [])[]] as $lines
  | {
      # The customer's name stands in only for a delivery place that was read.
      name: (v($f; "ship_to.name")
        // (if v($f; "ship_to.line1") != null or v($f; "ship_to.city") != null
             then v($f; "customer.company") // v($f; "customer.name") else null end)),
      company: null,
      line1: v($f; "ship_to.line1"),
      line2: v($f; "ship_to.line2"),
      city: v($f; "ship_to.city"),
      region: v($f; "ship_to.region"),
      postal_code: v($f; "ship_to.postal_code"),
      country: v($f; "ship_to.country"),
      phone: null
    } as $ship_to
  | (["source.external_id", "customer.name", "ship_to.line1", "ship_to.city", "ship_to.country",
       "currency"]
      + (if v($f; "customer.email") == null then ["customer.phone"] else [] end)) as $required
  | ([$required[] | select(v($f; .) == null)]
      + (if ($lines | length) == 0 then ["lines"] else [] end)
      + [$lines | to_entries[] | select(.value.unit_price == null) | "lines[\(.key)].unit_price"]
    ) as $missing
  | ([$required[] | conf($f; .) | select(. != null)] + [$lines[].confidence]) as $confs
  | {
      order_id: null,
      source: {
        connector: "",
        format: $format,
        channel: $format,
        # Without a reference the sender wrote, the Message-ID is the order's identity (so a
        # message read twice is one order) and source.external_id is reported missing.
        external_id: (v($f; "source.external_id") // $d.message.message_id
          // error("bad input: message has neither an order reference nor a Message-ID")),
        external_number: null,
        status: "open",
        raw_status: null
      },
      placed_at: (v($f; "placed_at") // error("bad input: message has no Date header")),
      currency: v($f; "currency"),
      customer: {
        name: v($f; "customer.name"),
        email: v($f; "customer.email"),
        phone: v($f; "customer.phone"),
        company: v($f; "customer.company")
      },
      ship_to: (if ([$ship_to[] | select(. != null)] | length) == 0 then null else $ship_to end),
      bill_to: null,
      lines: [$lines | to_entries[] | .key as $i | .value | {
        line_ref: ($i + 1 | tostring),
        sku: (.sku | nz),
        name: (.name | nz),
        spec: (.spec | nz),
        quantity: .quantity,
        cancelled_quantity: 0,
        unit_price: .unit_price,
        discount: null,
        tax: null
      }],
      shipping_fee: null,
      discount_total: null,
      tax_total: null,
      total: v($f; "total"),
      refunded_total: null,
      requested_delivery: v($f; "requested_delivery"),
      notes: (if (($d.problems // []) | length) > 0
        then "Extraction: " + ($d.problems | join("; ")) else null end),
      origin: origin($d.message),
      extraction: {
        confidence: (if ($d.problems // []) | any(test("not installed|could not be read"))
          then 0 else ($confs | min // 0) end),
        missing: $missing,
        document: null,
        doubts: ($d.doubts // [])
      }
    };

# A cXML / UBL attachment, already mapped by its own mapping: marked as come by mail.
def b2b_by_mail($format):
  .source.format = $format
  | .source.channel = $format
  | .extraction = {confidence: 1, missing: [], document: null};

if type == "object" and has("fields") and has("message") then
  if (.b2b_orders // []) | length > 0 then
    .message as $m | .b2b_orders[] | b2b_by_mail("email") | .origin = origin($m)
  else mail_order("email") end
else
  error("bad input: not a decoded mail message")
end
