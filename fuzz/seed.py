#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the repository's test documents
(mappings/testdata, tests/fixtures) and the shared samples when present. Small files only.
Each seed starts with the selector byte its target reads (see fuzz/fuzz_targets/*.rs).
Re-run after adding test documents: python3 fuzz/seed.py"""
import base64, email, email.policy, hashlib, hmac, json, os, pathlib, shutil, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
SHARED = ROOT.parent / "shared" / "samples"
LIMIT = 64 * 1024
NOW = 1_767_225_600  # the targets' fixed "now"
SECRET = b"fuzz-secret"

def put(target, name, data):
    if len(data) > LIMIT:
        return
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)

def files(*globs):
    seen = set()
    for g in globs:
        for p in sorted(ROOT.glob(g)):
            if p.is_file() and p.stat().st_size <= LIMIT and p not in seen:
                seen.add(p)
                yield p

shutil.rmtree(OUT, ignore_errors=True)

# order_json: shopify 0, woocommerce 1, ebay 2, magento 3, amazon 4 (two documents, NUL between).
for i, fmt in enumerate(["shopify", "woocommerce", "ebay", "magento"]):
    for p in files(f"mappings/testdata/{fmt}/*.json"):
        put("order_json", f"{fmt}-{p.stem}", bytes([i]) + p.read_bytes())
amazon = SHARED / "amazon-mfn-unshipped-usd"
if amazon.is_dir():
    put("order_json", "amazon-two-documents",
        b"\x04" + (amazon / "getOrders.json").read_bytes() + b"\0" + (amazon / "getOrderItems.json").read_bytes())
for p in files("mappings/testdata/amazon/*.json"):
    put("order_json", f"amazon-{p.stem}", b"\x04" + p.read_bytes())

# order_xml: cxml 0, ubl 1.
for i, fmt in enumerate(["cxml", "ubl"]):
    for p in files(f"mappings/testdata/{fmt}/*.xml"):
        put("order_xml", f"{fmt}-{p.stem}", bytes([i]) + p.read_bytes())

# mail: email 0, fax 1; csv/xlsx attachments and text bodies taken from the same messages.
mails = [(0, p) for p in files("mappings/testdata/email/*.eml", "tests/fixtures/mail-corpus/*/message.eml")]
mails += [(1, p) for p in files("mappings/testdata/fax/*.eml")]
for kind, p in mails:
    raw = p.read_bytes()
    name = p.parent.name if p.name == "message.eml" else p.stem
    if "fax" in name:
        kind = 1
    put("mail", name, bytes([kind]) + raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.is_multipart():
            continue
        fn = (part.get_filename() or "").lower()
        ctype = part.get_content_type()
        payload = part.get_payload(decode=True) or b""
        if fn.endswith((".csv", ".tsv", ".txt")) and ctype != "text/plain" or ctype == "text/csv":
            put("csv_attachment", name, b"\0" + payload)
            put("csv_attachment", name + "-comma", b"\1" + payload)
        elif fn.endswith(".xlsx"):
            put("xlsx_attachment", name, payload)
        elif ctype == "text/plain" and not fn:
            put("pdf_text", name, b"\0" + payload)

# tracking_callback: easypost 0, shippo 1, aftership 2, 17track 3, kuaidi100 4, sf-express 5,
# sf-express-form 6; an empty head (no query, no headers), then the body.
for i, fmt in enumerate(["easypost", "shippo", "aftership", "17track", "kuaidi100", "sf-express"]):
    for p in files(f"mappings/testdata/{fmt}/*"):
        body = p.read_bytes()
        scheme = 6 if fmt == "sf-express" and p.suffix == ".form" else i
        put("tracking_callback", f"{fmt}-{p.stem}", bytes([scheme]) + b"\n\n" + body)
# A signed EasyPost v2 callback (timestamp + method + path + body).
body = (ROOT / "mappings/testdata/easypost/tracker-updated-usps-in-transit.json").read_bytes()
sig = hmac.new(SECRET, str(NOW).encode() + b"POST" + body, hashlib.sha256).hexdigest()
put("tracking_callback", "easypost-signed",
    b"\0\nx-timestamp: " + str(NOW).encode() + b"\nx-hmac-signature-v2: hmac-sha256-hex=" + sig.encode() + b"\n\n" + body)

# webhook_signature: order webhooks 0..5, warehouse callbacks 6 (Standard Webhooks), 7 (Qimen).
body = (ROOT / "mappings/testdata/shopify/webhook-orders-create.json").read_bytes()
b64 = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest())
put("webhook_signature", "shopify", b"\0\nx-shopify-hmac-sha256: " + b64 + b"\n\n" + body)
put("webhook_signature", "woocommerce", b"\1\nx-wc-webhook-signature: " + b64 + b"\n\n" + body)
hx = hmac.new(SECRET, body, hashlib.sha256).hexdigest().encode()
put("webhook_signature", "hmac-hex-prefix", b"\2\nx-hub-signature-256: sha256=" + hx + b"\n\n" + body)
t = str(NOW).encode()
v1 = hmac.new(SECRET, t + b"." + body, hashlib.sha256).hexdigest().encode()
put("webhook_signature", "ordergate", b"\3\nx-ordergate-signature: t=" + t + b",v1=" + v1 + b"\n\n" + body)
put("webhook_signature", "basic", b"\4\nauthorization: Basic " + base64.b64encode(b"shop:fuzz-secret") + b"\n\n" + body)
cxml = (b'<?xml version="1.0"?><cXML payloadID="1@x" timestamp="2026-01-01T00:00:00Z"><Header>'
        b'<From><Credential domain="NetworkID"><Identity>buyer</Identity></Credential></From>'
        b'<Sender><Credential domain="NetworkID"><Identity>buyer</Identity>'
        b'<SharedSecret>fuzz-secret</SharedSecret></Credential></Sender></Header>'
        b'<Request><OrderRequest/></Request></cXML>')
put("webhook_signature", "cxml-shared-secret", b"\5\n\n" + cxml)
key = base64.b64decode("ZnV6ei1zZWNyZXQta2V5LWZvci1vcmRlcmdhdGU=")
sw = base64.b64encode(hmac.new(key, b"msg_1." + t + b"." + body, hashlib.sha256).digest())
put("webhook_signature", "standard-webhooks",
    b"\6\nwebhook-id: msg_1\nwebhook-timestamp: " + t + b"\nwebhook-signature: v1," + sw + b"\n\n" + body)
params = sorted({"method": "deliveryorder.confirm", "app_key": "k", "timestamp": "2026-01-01 00:00:00"}.items())
xml = b"<request><deliveryOrder/></request>"
sign = hashlib.md5(SECRET + b"".join(k.encode() + v.encode() for k, v in params) + xml + SECRET).hexdigest().upper()
query = "&".join(f"{k}={v.replace(' ', '%20')}" for k, v in params) + f"&sign={sign}"
put("webhook_signature", "qimen", b"\7" + query.encode() + b"\n\n" + xml)

# warehouse_callback: rest 0 (ShipBob, Standard Webhooks), qimen 1 (MD5 sign), pick-list 2 (CSV);
# bodies in the shapes the sandboxes (src/sandbox/shipbob.rs, qimen.rs) and the decoder's
# tests send, signed as the fuzz target's endpoints expect.
shipments = [{"id": 1, "status": "Completed",
              "tracking": {"carrier": "UPS", "tracking_number": "1ZSB000000000001", "carrier_service": "Ground"},
              "products": [{"reference_id": "SKU-A", "quantity": 2}]},
             {"id": 2, "status": "Completed", "tracking": {"carrier": "USPS", "tracking_number": "9400100000000000000001"},
              "products": [{"reference_id": "SKU-B", "quantity": 1}]}]
rest_bodies = {
    "shipped": {"topic": "order.shipped", "timestamp": "2026-01-01T00:00:00Z",
                "data": {"id": 7, "reference_id": "og-1", "status": "Fulfilled", "shipments": shipments}},
    "cancelled": {"topic": "order.shipment.cancelled",
                  "data": {"id": 7, "reference_id": "og-1", "status": "Cancelled"}},
    "exception": {"topic": "order.shipment.exception",
                  "data": {"id": 7, "reference_id": "og-1", "status": "Exception", "shipments": [
                      {"products": [{"reference_id": "SKU-A", "quantity": 3, "shipped_quantity": 2, "damaged_quantity": 1}]}]}},
    "delivered": {"topic": "order.delivered", "data": {"id": 7}},
}
for name, doc in rest_bodies.items():
    body = json.dumps(doc).encode()
    sw = base64.b64encode(hmac.new(key, b"msg_" + name.encode() + b"." + t + b"." + body, hashlib.sha256).digest())
    put("warehouse_callback", f"shipbob-{name}",
        b"\0\nwebhook-id: msg_" + name.encode() + b"\nwebhook-timestamp: " + t
        + b"\nwebhook-signature: v1," + sw + b"\n\n" + body)
def qimen_confirm(confirm, actual):
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?><request><deliveryOrder><deliveryOrderCode>og-2</deliveryOrderCode>"
            "<deliveryOrderId>WMS9</deliveryOrderId><warehouseCode>W</warehouseCode><orderType>JYCK</orderType>"
            f"<status>DELIVERED</status><outBizCode>WMS9-{confirm}</outBizCode><confirmType>{confirm}</confirmType>"
            "<orderConfirmTime>2026-01-01 08:00:00</orderConfirmTime></deliveryOrder><packages><package>"
            "<logisticsCode>SF</logisticsCode><logisticsName>顺丰速运</logisticsName><expressCode>SF100</expressCode>"
            "<packageCode>P0</packageCode><items><item><itemCode>SKU-A</itemCode><quantity>2</quantity></item></items>"
            "</package></packages><orderLines><orderLine><itemCode>SKU-A</itemCode><planQty>3</planQty>"
            f"<actualQty>{actual}</actualQty></orderLine></orderLines></request>").encode()
for name, xml in [("final", qimen_confirm(0, 3)), ("short", qimen_confirm(0, 2)), ("partial", qimen_confirm(1, 2))]:
    # Beijing time of the target's fixed "now".
    params = sorted({"method": "taobao.qimen.deliveryorder.confirm", "app_key": "k", "customerId": "c",
                     "v": "2.0", "sign_method": "md5", "format": "xml", "timestamp": "2026-01-01 08:00:00"}.items())
    sign = hashlib.md5(SECRET + b"".join(k.encode() + v.encode() for k, v in params) + xml + SECRET).hexdigest().upper()
    query = "&".join(f"{k}={v.replace(' ', '%20')}" for k, v in params) + f"&sign={sign}"
    put("warehouse_callback", f"qimen-{name}", b"\1" + query.encode() + b"\n\n" + xml)
for name, csv in [
    ("tracked", "key,carrier,tracking_number,sku,quantity\nog-1,DHL,JD1,A,1\nog-1,DHL,JD1,B,2\nog-1,DHL,JD2,A,1\nog-2,UPS,1Z,C,1\n"),
    ("packed", "key,parcel,carrier,tracking_number,sku,quantity\nog-3,1,,,A,2\nog-3,2,,,B,1\n"),
]:
    put("warehouse_callback", f"pick-list-{name}", b"\2\n\n" + csv.encode())
for p in files("tests/fixtures/**/*confirm*.csv", "tests/fixtures/**/shipped*.csv"):
    put("warehouse_callback", f"pick-list-{p.stem}", b"\2\n\n" + p.read_bytes())

# config: the daemon configurations (0) and the connector definitions (1).
for p in files("deploy/*/ordergate.toml"):
    put("config", f"config-{p.parent.name}", b"\0" + p.read_bytes())
put("config", "config-env-override",
    b"\0[store]\nurl = \"env:ORDERGATE_FUZZ_STORE\"\n\0ORDERGATE_HTTP__LISTEN=127.0.0.1:1\n")
for p in files("connectors/*.toml"):
    put("config", f"definition-{p.stem}", b"\1" + p.read_bytes())

for d in sorted(OUT.iterdir()):
    n = len(list(d.iterdir()))
    size = sum(f.stat().st_size for f in d.iterdir())
    print(f"{d.name}: {n} seeds, {size // 1024} KiB", file=sys.stderr)
