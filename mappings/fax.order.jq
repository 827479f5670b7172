# Fax-to-email order (a fax service's message with the order form as PDF or image) -> canonical
# order (rules: samples/README.md, "fax").
#
# Input: as for email.order (src/normalize/email/mod.rs), with the facts read from the form:
# the PDF's text layer, else OCR (lower confidence; without Tesseract nothing is read and the
# reason is in `problems`, so the order carries confidence 0 and every fact as missing).
#
# - Everything except placed_at comes from the form: external_id = the PO / order number;
#   customer = the organisation on the letterhead and its phone, an e-mail only if shown;
#   ship_to = the Ship to / Deliver to block; lines = the item table; total = the grand total.
# - placed_at = the Date header of the fax e-mail. status = open.
# - extraction as for email.order; `problems` are kept in `notes` for the person reviewing.

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
  if (.b2b_orders // []) | length > 0 then .b2b_orders[] | b2b_by_mail("fax")
  else mail_order("fax") end
else
  error("bad input: not a decoded mail message")
end
