//! Extraction of order facts from text written by a person or printed on a form, in English,
//! Chinese (simplified and traditional), French, German, Spanish, Dutch, Italian, Portuguese
//! and Japanese: labelled fields (`PO Number:`, `Bestellnummer:`, `注文番号：`), the delivery
//! address block by each country's convention (`1016 DZ Amsterdam`, `75009 Paris`,
//! `Sydney NSW 2000`, `〒150-0001 東京都…`), the sender's phone, the stated total and currency,
//! and the line table (columns by header in any order and language, bullets and list items of
//! the usual shapes). Every fact carries a confidence between 0 and 1: how sure the rule that
//! found it can be (a label is surer than a guess from layout; competing readings are less
//! sure). What a rule finds doubtful it says as a *doubt* (`path: why`), which holds the order
//! for a person ([`super::checks`] adds the cross-checks).

use super::template::Template;
use regex::Regex;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::LazyLock;

/// One extracted fact.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// The value as text (money and quantities as decimal strings).
    pub value: String,
    /// 0 to 1.
    pub confidence: f64,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line {
    /// Item code.
    pub sku: Option<String>,
    /// Description.
    pub name: Option<String>,
    /// Specification (size, model).
    pub spec: Option<String>,
    /// Quantity ordered.
    pub quantity: Option<Decimal>,
    /// Price per unit.
    pub unit_price: Option<Decimal>,
    /// 0 to 1.
    pub confidence: f64,
    /// Why the line is in doubt (its quantity × unit price is not its amount), if it is.
    pub doubt: Option<String>,
    /// The line's discount in percent (`Ale-%`, `Rabatt %`), when the table has a column for
    /// it: its amount is quantity × unit price less it. Only the checks use it.
    pub discount: Option<Decimal>,
}

/// Facts by canonical path (`customer.phone`, `ship_to.city`, `source.external_id`).
pub type Facts = BTreeMap<String, Fact>;

/// Built-in labels by field; a template's come first. In the languages orders are written
/// in: English, Chinese (simplified and traditional), French, German, Spanish, Dutch, Italian,
/// Portuguese and Japanese.
fn builtin_labels(field: &str) -> &'static [&'static str] {
    match field {
        "external_id" => &[
            "po kami",
            "no. po",
            "nombor pesanan",
            "no. pesanan",
            "namba ya oda",
            "nambari ya oda",
            "oda no",
            "oda no.",
            "oda namba",
            "क्रय आदेश संख्या",
            "क्रय आदेश सं.",
            "ऑर्डर संख्या",
            "आदेश संख्या",
            "номер на поръчка",
            "поръчка №",
            "број наруџбенице",
            "ostotilausnumero",
            "เลขที่ใบสั่งซื้อ",
            "po number",
            "po no",
            "po no.",
            "po #",
            "po#",
            "po",
            "our po",
            "our ref",
            "our ref.",
            "our reference",
            "our order ref",
            "po ref",
            "po reference",
            "p.o. number",
            "p.o. no",
            "p.o. #",
            "p.o.",
            "purchase order number",
            "purchase order no",
            "purchase order",
            "order number",
            "order no",
            "order no.",
            "order #",
            "order ref",
            "order reference",
            "your order",
            "our order number",
            "bestellnummer",
            "bestell-nr",
            "bestell-nr.",
            "bestellnr",
            "bestellung nr",
            "bestellung",
            "unsere bestellnummer",
            "auftragsnummer",
            "auftrags-nr",
            "n° de commande",
            "no de commande",
            "numéro de commande",
            "n° commande",
            "commande n°",
            "réf. commande",
            "ref. commande",
            "référence commande",
            "bon de commande",
            "bon de commande n°",
            "número de pedido",
            "n.º de pedido",
            "nº de pedido",
            "no. de pedido",
            "núm. pedido",
            "pedido nº",
            "pedido n.º",
            "pedido no",
            "pedido",
            "referencia pedido",
            "ordernummer",
            "bestelnummer",
            "ons bestelnummer",
            "bestelbon",
            "bestelbon nr",
            "bestelbonnummer",
            "inkoopordernummer",
            "inkooporder",
            "inkoopnummer",
            "inkoopnr",
            "inkoopnr.",
            "bestelling",
            "ordernr",
            "ordernr.",
            "order-nr",
            "order-nr.",
            "bestelnr",
            "bestelnr.",
            "best.-nr.",
            "auftragsnr",
            "auftragsnr.",
            "po-nr",
            "numero ordine",
            "numero d'ordine",
            "n. ordine",
            "ordine n.",
            "ordine n",
            "ordine",
            // "ORDINE FORNITORE N. 318/2026": the order to the supplier, the buyer's own.
            "ordine fornitore",
            "ordine a fornitore",
            "rif. ordine",
            "ordine d'acquisto",
            "ordine di acquisto",
            "n. ordine cliente",
            "ordine cliente",
            "numero ordine cliente",
            "nr. ordine",
            "n° ordine",
            "número da encomenda",
            "n.º da encomenda",
            "nº da encomenda",
            "encomenda n.º",
            "encomenda nº",
            "encomenda",
            "número do pedido",
            "pedido de compra",
            // The Nordic "purchase order" ("Indkøbsordre: IO-2026-0931").
            "indkøbsordre",
            "indkøbsordrenr",
            "innkjøpsordre",
            "inköpsorder",
            "orden de compra",
            "orden de compra no",
            "no. de orden",
            "número de orden",
            "núm. de orden",
            "orden no",
            "注文番号",
            "ご注文番号",
            "発注番号",
            "注文書番号",
            "注文no",
            "订单号",
            "訂單號",
            "订单编号",
            "訂單編號",
            "訂單號碼",
            "订单号码",
            "訂購單號碼",
            "采购单号",
            "採購單號",
            "采购订单号",
            "採購訂單號",
            "订购单号",
            "訂購單號",
            "单号",
            "單號",
            "bestillingsnr",
            "bestillingsnr.",
            "bestillingsnummer",
            "ordrenr",
            "ordrenr.",
            "ordrenummer",
            "beställningsnummer",
            "beställningsnr",
            "zamówienie nr",
            "numer zamówienia",
            "nr zamówienia",
            "číslo objednávky",
            "objednávka č.",
            "tilausnumero",
            "tilausnro",
            "tilaus nro",
            "αρ. παραγγελίας",
            "αριθμός παραγγελίας",
            "sipariş no",
            "sipariş numarası",
            "megrendelés száma",
            "rendelésszám",
            "rendelési szám",
            "주문번호",
            "발주번호",
            "comandă nr",
            "nr. comandă",
            "număr comandă",
            "tellimuse nr",
            "tellimuse number",
            "tellimus nr",
            "lpo no",
            "lpo no.",
            "lpo number",
            "lpo #",
            "local purchase order no",
        ],
        "contact" => &[
            "contact",
            "contact person",
            "attn",
            "attention",
            "ansprechpartner",
            "kontakt",
            "contacto",
            "persona de contacto",
            "contactpersoon",
            "referente",
            "contato",
            "contacto",
            "担当",
            "担当者",
            "ご担当者",
            "联系人",
            "聯繫人",
            "聯絡人",
            "联络人",
            "담당자",
            "kontaktisik",
            "yhteyshenkilö",
            "ilgili kişi",
            "persoană de contact",
            "kapcsolattartó",
        ],
        "customer" => &[
            "customer",
            "customer name",
            "buyer",
            "client",
            "kunde",
            "besteller",
            "cliente",
            "klant",
            "acheteur",
            "comprador",
            "acquirente",
            "会社名",
            "顧客",
            "客户",
            "客戶",
            "客户名称",
            "客戶名稱",
            "订购单位",
            "訂購單位",
        ],
        "company" => &[
            "company",
            "company name",
            "firma",
            "société",
            "empresa",
            "bedrijf",
            "azienda",
            "公司",
            "公司名称",
            "公司名稱",
        ],
        "phone" => &[
            "simu",
            "nambari ya simu",
            "cel",
            "cel.",
            "móvil",
            "movil",
            "मोबाइल",
            "फ़ोन",
            "फोन",
            "दूरभाष",
            "تلفن",
            "тел",
            "тел.",
            "телефон",
            "no. tel",
            "no. telefon",
            "phone",
            "tel",
            "tel.",
            "telephone",
            "mobile",
            "cell",
            "phone number",
            "téléphone",
            "tél",
            "tél.",
            "telefon",
            "telefonnummer",
            "handy",
            "mobil",
            "teléfono",
            "telefoon",
            "telefono",
            "telefone",
            "telemóvel",
            "celular",
            "電話",
            "電話番号",
            "携帯",
            "电话",
            "手机",
            "手機",
            "联系电话",
            "聯絡電話",
            "聯繫電話",
            "puh",
            "puh.",
            "puhelin",
            "sími",
            "gsm",
            "đt",
            "điện thoại",
            "โทร",
            "โทรศัพท์",
            "τηλ",
            "τηλ.",
            "τηλέφωνο",
            "tel.:",
            "tel:",
            "전화",
            "연락처",
            "휴대폰",
        ],
        "email" => &[
            "email",
            "e-mail",
            "mail",
            "correo",
            "correo electrónico",
            "courriel",
            "メール",
            "邮箱",
            "郵箱",
            "电子邮件",
            "電子郵件",
            "電郵",
        ],
        "ship_to" => &[
            "leveransadress",
            "leveringsadresse",
            "leveringsadres",
            "dodací adresa",
            "doručovací adresa",
            "dodacia adresa",
            "adreça de lliurament",
            "adreça d'entrega",
            "adreça d'enviament",
            "miesto dodania",
            "místo dodání",
            "místo dodávky",
            "адрес за доставка",
            "испорука на адресу",
            "isporuka na adresu",
            "адреса за испоруку",
            "adresa za isporuku",
            "hantar ke",
            "alamat penghantaran",
            "mzigo upelekwe",
            "anwani ya kupeleka",
            "डिलीवरी का पता",
            "वितरण का पता",
            "शिपिंग पता",
            "ship to",
            "ship-to",
            "ship-to address",
            "verzendadres",
            "shipping to",
            "delivery details",
            "consegna",
            "luogo consegna",
            "indirizzo consegna",
            "destinazione",
            "destinazione merce",
            "lieferung",
            "entrega",
            "levering",
            "afleveren op",
            "leveren op",
            "livraison à",
            "ship-to",
            "deliver to",
            // "Please send to:" (the polite word is read off the label).
            "send to",
            "delivery address",
            "shipping address",
            "delivery to",
            "address",
            "lieferadresse",
            "lieferanschrift",
            "liefern an",
            "versandadresse",
            "lieferung an",
            "adresse de livraison",
            "livrer à",
            "à livrer à",
            "livraison",
            "dirección de entrega",
            "dirección de envío",
            "envío a",
            "envio a",
            "enviar a",
            "entregar en",
            "afleveradres",
            "leveradres",
            "bezorgadres",
            "afleveren op",
            "leveren aan",
            "indirizzo di consegna",
            "consegnare a",
            "consegna presso",
            "consegnare presso",
            "spedire a",
            "luogo di consegna",
            "endereço de entrega",
            "morada de entrega",
            "entregar em",
            "entregar a",
            "お届け先",
            "送付先",
            "納品先",
            "納品場所",
            "納入場所",
            "納入先",
            "配送先",
            "届け先",
            "地址",
            "送货地址",
            "送貨地址",
            "收货地址",
            "收貨地址",
            // "收货信息：" over the block (name, address, postcode, recipient): the
            // delivery's details.
            "收货信息",
            "收貨信息",
            "收貨資訊",
            "交货地址",
            "交貨地址",
            "配送地址",
            "收件地址",
            "toimitusosoite",
            "διεύθυνση παράδοσης",
            "διεύθυνση αποστολής",
            "τόπος παράδοσης",
            "τόπος παραλαβής",
            "teslimat adresi",
            "sevk adresi",
            "szállítási cím",
            "szállítási hely",
            "배송지",
            "배송 주소",
            "배송주소",
            "adresa de livrare",
            "adresă de livrare",
            "livrare la",
            "tarneaadress",
            "tarneaadress:",
            "kohaletoimetamise aadress",
            "adresa doručenia",
            "adresa dostave",
            "adres dostawy",
            "piegādes adrese",
            "адреса доставки",
            "адрес доставки",
            "alamat pengiriman",
            "alamat kirim",
            "عنوان التسليم",
            "عنوان التوصيل",
            "عنوان الشحن",
            "כתובת למשלוח",
            "כתובת משלוח",
            "כתובת אספקה",
            "afhendingarstaður",
            "pristatymo adresas",
            "dostava na",
            "naslov za dostavo",
            "teslim yeri",
            "ส่งของที่",
            "กรุณาส่งของที่",
            "ที่อยู่จัดส่ง",
            "địa chỉ giao hàng",
            "giao hàng tại",
            "giao hàng đến",
            "adresa e dorëzimit",
        ],
        // The organisation the goods go to, labelled apart from the person who takes them
        // ("收货单位：兰亭小馆", then "联系人：…").
        "consignee" => &[
            "consignee",
            "收货单位",
            "收貨單位",
            "收货方",
            "收貨方",
            "收货公司",
            "收貨公司",
            "收货门店",
            "收貨門市",
            "收货门店名称",
            "送货单位",
            "送貨單位",
            "届け先名",
            "納品先名",
        ],
        "recipient" => &[
            "recipient",
            "收货人",
            "收貨人",
            "收件人",
            "联系人/收货人",
            "受取人",
            "宛名",
            "empfänger",
            "destinataire",
            "destinatario",
            "ontvanger",
            "destinatário",
        ],
        "postal_code" => &[
            "postcode",
            "postal code",
            "zip",
            "zip code",
            "邮编",
            "郵編",
            "邮政编码",
            "郵政編碼",
            "郵遞區號",
            "郵便番号",
            "plz",
            "code postal",
            "postinumero",
            "τ.κ.",
            "posta kodu",
            "irányítószám",
            "우편번호",
            "cod poștal",
            "sihtnumber",
        ],
        "delivery_date" => &[
            "delivery date",
            "deliver by",
            "required by",
            "need by",
            "requested delivery",
            "liefertermin",
            "lieferdatum",
            "date de livraison",
            "fecha de entrega",
            "leverdatum",
            "data di consegna",
            "data de entrega",
            "納期",
            "希望納期",
            "交货日期",
            "交貨日期",
            "送货日期",
            "送貨日期",
            "到货日期",
            "到貨日期",
        ],
        "currency" => &[
            "currency",
            "währung",
            "devise",
            "monnaie",
            "moneda",
            "valuta",
            "moeda",
            "通貨",
            "币种",
            "幣別",
            "币别",
            "貨幣",
            "货币",
            "para birimi",
        ],
        "total" => &[
            "grand total",
            "order total",
            "total amount",
            "total",
            "合计",
            "合計",
            "总计",
            "總計",
            "总金额",
            "總金額",
            "الإجمالي",
            "סה\"כ לתשלום",
            "samtals",
            "iš viso",
            "totali",
            "skupaj za plačilo",
            "genel toplam",
            "รวมทั้งสิ้น",
            "tổng cộng",
        ],
        _ => &[],
    }
}

/// Built-in column headers by column; a template's come first.
fn builtin_columns(column: &str) -> &'static [&'static str] {
    match column {
        "sku" => &[
            "materialnummer",
            "material-nr",
            "mat.-nr",
            "шифра",
            "कोड",
            "код артикла",
            "sku",
            "cod. articolo",
            "cod. art",
            "cod art",
            "codice art",
            "réf. article",
            "ref. artículo",
            "stock code",
            "cat. no",
            "cat no",
            "supplier cat no",
            "supplier cat. no",
            "vendor part #",
            "vendor part no",
            "supplier part no",
            "catalogue no",
            "catalog no",
            "catalog #",
            "model",
            "model no",
            "supplier code",
            "vendor code",
            "part",
            "mfr part",
            "sku #",
            "product id",
            "item id",
            "article no",
            "article number",
            "item #",
            "item#",
            "item no",
            "item no.",
            "item number",
            "item code",
            "code",
            "product code",
            "part no",
            "part no.",
            "part number",
            "part #",
            "article",
            "art. no",
            "ref",
            "reference",
            "artikelnummer",
            "art.-nr",
            // "Art." alone: the article's number (Swiss, French and German tables).
            "art",
            "art.nr",
            "art-nr",
            // Nordic, Polish, Czech: "Varenr.", "Art.nr", "Kod", "Kód".
            "varenr",
            "varenummer",
            "artnr",
            "kod",
            "kod towaru",
            "kód",
            "kód zboží",
            "artikel-nr",
            "artikelnr",
            "bestellnummer",
            "référence",
            "réf",
            "code article",
            "referencia",
            "ref.",
            "código",
            "cód",
            "artikelcode",
            "art. nr",
            "codice",
            "codice articolo",
            "clave",
            "cód. art",
            "cod",
            "referência",
            "品番",
            "商品コード",
            "型番",
            "品號",
            "货号",
            "貨號",
            "编号",
            "編號",
            // "编码" alone: the code (a Chinese table's "品名 编码 规格 数量 …").
            "编码",
            "編碼",
            "品号",
            "料号",
            "料號",
            "产品编号",
            "產品編號",
            "型号",
            "型號",
            "商品编码",
            "tuotenro",
            "tuotenumero",
            "tuotekoodi",
            "κωδικός",
            "ürün kodu",
            "stok kodu",
            "cikkszám",
            "품목코드",
            "상품코드",
            "cod produs",
            "cod articol",
            "kood",
            "tootekood",
            "kód",
            "kods",
            "codi",
            "šifra",
            "indeks",
            "код",
            "артикул",
            "kode",
            "מק\"ט",
            "vörunr",
            "vörunr.",
            "kodas",
            "kodi",
            "mã hàng",
            "รหัสสินค้า",
        ],
        "name" => &[
            // Zoho Books' "Item & Description".
            "item & description",
            "item and description",
            "description",
            "material",
            "bidhaa",
            "maelezo",
            "विवरण",
            "वस्तु",
            "назив",
            "наименование",
            "опис",
            "nama produk",
            "keterangan",
            "item description",
            "product description",
            "article description",
            "description of goods",
            "goods",
            "descripción del artículo",
            "description article",
            "benämning",
            "beskrivning",
            "varenavn",
            "varebeskrivelse",
            "beskrivelse",
            "produktnavn",
            "artikelnamn",
            "nazwa",
            "nazwa towaru",
            "název",
            "název zboží",
            "popis",
            "product",
            "product name",
            "item",
            "item name",
            "title",
            "título",
            "titolo",
            "titre",
            "titel",
            "name",
            "designation",
            "désignation",
            "bezeichnung",
            "beschreibung",
            "artikel",
            "artikelbezeichnung",
            "produkt",
            "libellé",
            "produit",
            "descripción",
            "producto",
            "artículo",
            "articulo",
            "omschrijving",
            "artikel omschrijving",
            "descrizione",
            "prodotto",
            "articolo",
            "descrição",
            "designação",
            "designacao",
            "produto",
            "artigo",
            "品名",
            // "品名規格": the name and its specification in one column.
            "品名規格",
            "品名规格",
            "品名及規格",
            "品名及规格",
            "名稱規格",
            "名称规格",
            "商品名",
            "摘要",
            "名称",
            "名稱",
            "产品",
            "產品",
            "商品",
            "商品名称",
            "产品名称",
            "產品名稱",
            "tuote",
            "tuotenimi",
            "περιγραφή",
            "είδος",
            "ürün",
            "ürün adı",
            "açıklama",
            "megnevezés",
            "termék",
            "품명",
            "품목",
            "상품명",
            "denumire",
            "denumire produs",
            "toode",
            "nimetus",
            "kirjeldus",
            "názov",
            "nosaukums",
            "producte",
            "naziv",
            "назва",
            "найменування",
            "nama barang",
            "תיאור",
            "שם המוצר",
            "פריט",
            "vara",
            "pavadinimas",
            "artikulli",
            "stok adı",
            "tên hàng",
            "รายการ",
        ],
        // A shop's product option ("Product | Variant": "Soy wax 464 | 10 lb slab"): the
        // line's name is the product's and the variant's, as the shop names a line.
        "variant" => &["variant", "variant title", "variante", "variant name"],
        "spec" => &[
            "spec",
            "specification",
            "size",
            "规格",
            "規格",
            "規格・サイズ",
        ],
        "quantity" => &[
            "idadi",
            "मात्रा",
            "кол.",
            "кол",
            "количество",
            "количина",
            "kuantiti",
            "kol",
            "qty",
            "q.tà",
            "q.ta",
            "qta",
            "quant",
            "quantité commandée",
            "cantidad pedida",
            "menge bestellt",
            "qty ordered",
            "order qty",
            "quantity ordered",
            "ordered",
            "no. of units",
            "pcs",
            "count",
            "qty.",
            "quantity",
            "qté",
            "quantité",
            "units",
            "menge",
            "anzahl",
            "stück",
            "stk",
            "cantidad",
            "cant",
            "uds",
            "unidades",
            "aantal",
            "quantità",
            "qtà",
            "quantidade",
            "qtd",
            "qtde",
            "數量",
            "数量",
            "订购数量",
            "訂購數量",
            "個数",
            "antal",
            "antall",
            "ilość",
            "ilosc",
            "množství",
            "počet",
            "määrä",
            "ποσότητα",
            "ποσ.",
            "miktar",
            "adet",
            "menny.",
            "mennyiség",
            "수량",
            "cantitate",
            "cant.",
            "kogus",
            "množstvo",
            "množ",
            "mn",
            "daudzums",
            // A column named only by the unit it counts in.
            "gab",
            "kpl",
            "szt",
            "quantitat",
            "količina",
            "кількість",
            "jumlah",
            "kiekis",
            "magn",
            "sasia",
            "kol.",
            "số lượng",
            "จำนวน",
            "כמות",
        ],
        "unit_price" => &[
            "bei kwa kimoja",
            "preu unitari",
            "preu",
            "bei",
            "दर",
            "ед. цена",
            "единична цена",
            "цена",
            "јед. цена",
            "vr. unitario",
            "vr unitario",
            "valor unitario",
            "harga seunit",
            "unit price",
            "à-pris",
            "á-pris",
            "a-pris",
            "à pris",
            "stk.pris",
            "stk. pris",
            "stykpris",
            "styckpris",
            "enhetspris",
            "enhedspris",
            "pris/stk",
            "pris",
            "cena",
            "cena jedn",
            "cena jednostkowa",
            "cena/szt",
            "cena/ks",
            "jednotková cena",
            "cena za ks",
            "pu ht",
            "p.u. ht",
            "prix unitaire ht",
            "prix ht",
            "prix unit. ht",
            "prezzo unit",
            "prezzo netto",
            "precio ud",
            "preço unit",
            "rate",
            "unit rate",
            "price/unit",
            "price per unit",
            "cost",
            "net price",
            "each price",
            "unit price ex gst",
            "unit price ex vat",
            "price",
            "unit cost",
            "cost price",
            "cost each",
            "price ea",
            "p.v.p",
            "pvp",
            "price each",
            "each",
            "prix unitaire",
            "prix unit",
            "p.u",
            "pu",
            "prix",
            "einzelpreis",
            "e-preis",
            "ep",
            "vlr. unit",
            "vlr unit",
            "vl. unit",
            "valor unit",
            "p. unit",
            "p.unit",
            "stückpreis",
            "preis",
            "preis/stk",
            "precio unitario",
            "precio",
            "precio ud",
            "prijs per stuk",
            "prijs",
            "stukprijs",
            "eenheidsprijs",
            // Business Central's "Directe kostprijs excl. btw" / "Direct Unit Cost Excl. VAT".
            "directe kostprijs",
            "direct unit cost",
            "prezzo unitario",
            "prezzo",
            "prezzo unit",
            "preço unitário",
            "preço",
            "valor unitário",
            "単価",
            "单价",
            "單價",
            "价格",
            "價格",
            "hinta/kpl",
            "yksikköhinta",
            "á-hinta",
            "à-hinta",
            "a-hinta",
            "τιμή μον.",
            "τιμή μονάδας",
            "τιμή",
            "birim fiyat",
            "fiyat",
            "egységár",
            "단가",
            "preț unitar",
            "pret unitar",
            "preț",
            "ühikuhind",
            "hind",
            "cena/ks bez dph",
            "cijena",
            "ціна",
            "harga",
            "harga satuan",
            "kaina",
            "verð/stk.",
            "verð/stk",
            "verð",
            "çmimi",
            "cena/em",
            "đơn giá",
            "ราคาต่อหน่วย",
            "מחיר ליח'",
            "מחיר ליחידה",
            "מחיר",
        ],
        "amount" => &[
            "राशि",
            "износ",
            "стойност",
            "vr. total",
            "vr total",
            "jumla",
            "amount",
            "belopp",
            "beløb",
            "beløp",
            "summa",
            "wartość",
            "kwota",
            "cena celkem",
            "total price",
            "line value",
            "value",
            "ext",
            "ext price",
            "extended price",
            "extension",
            "net amount",
            "line amount",
            "line total",
            "total cost",
            "total",
            "ext. price",
            "extended",
            "montant",
            "total ht",
            "gesamt",
            "gesamtpreis",
            "gp",
            "betrag",
            "summe",
            "importe",
            "total línea",
            "bedrag",
            "totaal",
            "importo",
            "totale",
            "valor",
            "valor total",
            "金額",
            "金额",
            "小计",
            "小計",
            "αξία",
            "yhteensä",
            "tutar",
            "érték",
            "금액",
            "valoare",
            "kokku",
            "spolu",
            "iznos",
            "сума",
            "סה\"כ",
            "kopā",
        ],
        // A line's discount in percent (the amount column is then after it).
        "discount" => &[
            "ale-%",
            "ale %",
            "ale",
            "alennus",
            "alennus %",
            "rabatt",
            "rabatt %",
            "rabatt-%",
            "rab.",
            "rab. %",
            "discount",
            "discount %",
            "disc.",
            "disc. %",
            "disc %",
            "remise",
            "remise %",
            "descuento",
            "dto.",
            "dto. %",
            "dto",
            "sconto",
            "sconto %",
            // Italian "Sc.%", "Sc. %": sconto written short.
            "sc.%",
            "sc. %",
            "sc %",
            "korting",
            "korting %",
            // Business Central's "Regelkorting %" / "Line Discount %": the line's discount.
            "regelkorting",
            "regelkorting %",
            "line discount",
            "line discount %",
            "line disc. %",
            "desconto",
            "rabat",
            "rabat %",
            "sleva",
            "sleva %",
            "popust",
            "popust %",
        ],
        // The number of units the price is for (an ERP's "Price | Per": 9.00 per 100).
        "price_unit" => &[
            "per",
            "price per",
            "preiseinheit",
            "pe",
            "price unit",
            "prix par",
        ],
        _ => &[],
    }
}

/// Words that start a total, shipping or tax row: not an order line.
const TOTAL_WORDS: &[&str] = &[
    "total",
    "סה\"כ",
    "מע\"מ",
    "الإجمالي",
    "ضريبة",
    "totals",
    "subtotal",
    "sub-total",
    "sub total",
    "grand total",
    "shipping",
    "freight",
    "tax",
    "taxes",
    "sales tax",
    "vat",
    "gst",
    "discount",
    "zwischensumme",
    "gesamtsumme",
    "summe",
    "mwst",
    "ust",
    "versand",
    "rabatt",
    "sous-total",
    "tva",
    "frais de port",
    "remise",
    "base imponible",
    "iva",
    "portes",
    "envío",
    "descuento",
    "subtotaal",
    "totaal",
    "btw",
    "verzendkosten",
    "korting",
    "imponibile",
    "totale",
    "spese di spedizione",
    "sconto",
    "frete",
    "desconto",
    "impostos",
    "合计",
    "合計",
    "总计",
    "總計",
    "小计",
    "小計",
    "运费",
    "運費",
    "税",
    "稅",
    "送料",
    "消費税",
    "summa",
    "moms",
    "att betala",
    "i alt",
    "mva",
    "razem",
    "suma",
    "celkem",
    "celkom",
    "dph",
    "yhteensä",
    "σύνολο",
    "καθαρή αξία",
    "φπα",
    "ara toplam",
    "genel toplam",
    "toplam",
    "kdv",
    "összesen",
    "végösszeg",
    "szállítási díj",
    "kargo",
    "γενικό σύνολο",
    "ยอดรวม",
    "áfa",
    "합계",
    "부가세",
    "subtotal fără tva",
    "total fără tva",
    "vahesumma",
    "välisumma",
    "tilausalennus",
    "käibemaks",
    "kokku",
    "tasuda",
    "alv",
    "spolu",
    "kopā",
    "ukupno",
    "разом",
    "всього",
    "pvn",
    "pdv",
    "пдв",
    "sst",
    "ppn",
    "samtals",
    "iš viso",
    "totali",
    "skupaj",
    "tổng cộng",
    "รวมเป็นเงิน",
    "รวมทั้งสิ้น",
    "ภาษีมูลค่าเพิ่ม",
    "thuế gtgt",
    "cộng tiền hàng",
    // Bulgarian, Serbian, Swahili, Malay, Hindi.
    "общо",
    "сума",
    "ддс",
    "укупно",
    "jumla",
    "jumlah",
    "उप-योग",
    "कुल",
    "igst",
    "cgst",
    "sgst",
];

/// A pattern: its source, written with ASCII meanings (`\s` is ASCII white space, `\b` an ASCII
/// word boundary, as in regex-lite), and its compiled form for the `regex` crate, whose lazy DFA
/// finds matches many times faster than regex-lite's Pike VM. `(?i)` follows Unicode simple
/// case folding there (`ſ` matches `s`, `À` matches `à`), where regex-lite folds ASCII only.
struct Pattern {
    #[cfg_attr(not(test), allow(dead_code))]
    source: &'static str,
    regex: Option<Regex>,
}

impl Pattern {
    fn new(source: &'static str) -> Self {
        Pattern {
            source,
            regex: Regex::new(&ascii_classes(source)).ok(),
        }
    }
}

/// `source` with `\s` spelled as its ASCII class and `\b` as the ASCII word boundary, so the
/// `regex` crate (Unicode classes by default) reads it as written.
fn ascii_classes(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 32);
    let mut in_class = false;
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str("\\t\\n\\x0B\\x0C\\r "),
                Some('s') => out.push_str("[\\t\\n\\x0B\\x0C\\r ]"),
                Some('b') if !in_class => out.push_str("(?-u:\\b)"),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` or `^]` right after the opening bracket is a literal.
                let rest = chars.as_str();
                for lead in ["^]", "]", "^"] {
                    if let Some(after) = rest.strip_prefix(lead) {
                        out.push_str(lead);
                        chars = after.chars();
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Pattern> = LazyLock::new(|| Pattern::new($pat));
    };
}

// A code that holds `PO-` whole, with any prefix of the sender's ("KG-PO-11842").
re!(
    PO_DASHED,
    r"(?:^|[^A-Za-z0-9-])((?:[A-Za-z0-9]+-)*PO-[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
);
// The unanchored form, which [`po_labelled`] must agree with (tested).
#[cfg(test)]
re!(
    PO_LABELLED,
    r"(?i)\b(?:P\.?O\.?|purchase\s+order|order)\s*(?:#|no\.?|number|nr\.?|n°)\s*:?\s*#?\s*(?:is\s+)?([A-Za-z0-9][A-Za-z0-9/-]*[0-9][A-Za-z0-9/-]*)"
);
re!(
    PO_LABELLED_AT,
    r"(?i)^(?:P\.?O\.?|purchase\s+order|order)\s*(?:#|no\.?|number|nr\.?|n°)\s*:?\s*#?\s*(?:is\s+)?([A-Za-z0-9][A-Za-z0-9/-]*[0-9][A-Za-z0-9/-]*)"
);
re!(PHONE, r"(\+?\(?[0-9][0-9 ().-]{5,}[0-9])");
re!(
    PHONE_LINE,
    r"(?i)^(?:(?:tel|tlf|telefon|tél|phone|mobile|mobil|handy|cell|mob|t|m|p)\.?\s*:?\s*|(?:tel|telefon|tél|phone|mobile|mobil|handy|cell)\.?\s+[^\s0-9:().+-]{3,12}\s*:?\s*)?(\+?\(?[0-9][0-9 ().-]{5,}[0-9])$"
);
re!(EMAIL, r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})");
re!(
    BULLET,
    r"(?i)^\s*(?:[-*•·]\s*)?([0-9]+(?:[.,][0-9]+)?)\s*(?:x|×|pcs?\.?|pieces|units?|stuks?|st\.|stk\.?|stück|uds?\.?|pz\.?|dozen|doz\.?|pak\.?|pkg\.?|eimer|dosen?|rollen?|kartons?|beutel|kanister|pck\.?|pkt\.?|cans?|blikken|flessen|zakken|pakken|emmers|件|个|個|箱|包)\s*(?:of\s+)?(.+?)\s*(?:\((?:(?:r[ée]f|ref|art|art\.?-?nr|artikelnr|sku|code|item|cod|código|codice|kód|kod|nr|no|n°)\.?\s*[:#]?\s*|#\s*)?([A-Za-z0-9][A-Za-z0-9._/-]*)\))?\s*(?:\s*@\s*|\s+(?:at|à)\s+)((?:US|NT|HK|R|A|NZ|C|S)?\$|[£€¥￥]|USD|EUR|GBP|CHF|CAD|AUD|NZD|JPY|CNY|RMB|BRL|MXN|SGD|HKD|TWD|TSh|KSh|RM|Rp|S/\.?)?\s*([0-9][0-9.,]*)"
);
re!(
    TOTAL,
    r"(?i)(grand\s+total|order\s+total|total\s+amount|totale\s+(?:ordine|dell'ordine|documento)|total\s+(?:du\s+|de\s+la\s+)?commande|total\s+(?:del\s+|do\s+)?pedido|total\s+da\s+encomenda|gesamtbetrag|gesamtsumme|bestellwert|totaalbedrag|totaal|totale|total|合计|合計|总计|總計|总金额|總金額|一共|共计|共計)\s*(?:\(?(USD|GBP|EUR|CNY|RMB|HKD|TWD|CAD|AUD|JPY|CHF|BRL)\)?)?\s*(?:is|est|ist|es|è|é|bedraagt|:|：)?\s*(?:(USD|GBP|EUR|CNY|RMB|HKD|TWD|CAD|AUD|JPY|CHF|BRL|US\$|HK\$|NT\$|R\$|\$|£|€|¥|￥)\s*)?([0-9][0-9,.]*[0-9]|[0-9])"
);
re!(
    US_CITY,
    r"^(.+?),?\s+([A-Z]{2})\s+([0-9]{5}(?:-[0-9]{4})?)$"
);
re!(
    CA_CITY,
    r"^(.+?),?\s+([A-Z]{2})\s+([A-Z][0-9][A-Z] ?[0-9][A-Z][0-9])$"
);
re!(
    CA_CITY_PROVINCE,
    r"^(.+?)\s*(?:,\s*|\s+\()([^(),0-9]+?)\)?\s+([A-Z][0-9][A-Z] ?[0-9][A-Z][0-9])$"
);
re!(UK_POSTCODE, r"^([A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$");
re!(
    UK_CITY,
    r"^(.+?),?\s+([A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$"
);
re!(IE_CITY, r"^(.+?),?\s+([A-Z][0-9]{2}|D6W) ?([A-Z0-9]{4})$");
re!(EIRCODE, r"^([A-Z][0-9]{2}|D6W) ?[A-Z0-9]{4}$");
re!(CITY_POSTAL, r"^(.+?),?\s+([0-9]{4,7})$");
re!(US_ZIP, r"^[0-9]{5}(?:-[0-9]{4})?$");
re!(CN_POSTAL, r"([0-9]{6})");
re!(
    CN_DATE,
    r"([0-9]{4})\s*[年/.-]\s*([0-9]{1,2})\s*[月/.-]\s*([0-9]{1,2})"
);
re!(
    FAX_HEADER,
    r"(?i)(\b(?:from|de|von|da|fra|från|van)\s?:.*(to:|p\.?\s*[0-9]{3}|p\.\s*[0-9]{1,3}\s*/\s*[0-9]{1,3}|page))|^[A-Z]{3}-[0-9]{2}-[0-9]{4}"
);

fn rx(re: &LazyLock<Pattern>) -> Option<&Regex> {
    re.regex.as_ref()
}

// Matching costs per character of the text searched, and the extraction runs several patterns
// over every line, so each is first gated by a plain test of something every match must contain
// (tested: gated and ungated results are equal).

/// Whether `haystack` contains `needle` (ASCII lower case), ignoring ASCII case.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    let n = needle.len();
    n <= haystack.len()
        && haystack
            .as_bytes()
            .windows(n)
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `s` without its dates and times ("entro il 30/04/2026, 8:30-12:30" → "entro il , -"): a
/// delivery label's value whose only numbers are those says when, not where.
fn undated(s: &str) -> String {
    re!(
        DATE_OR_TIME,
        r"\b(?:[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{2,4}|[0-9]{1,2}:[0-9]{2})\b"
    );
    rx(&DATE_OR_TIME).map_or_else(|| s.to_string(), |r| r.replace_all(s, "").into_owned())
}

fn digits(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// [`BULLET`]: `3 x Name (SKU) @ $1.00` starts with the quantity (after a bullet) and needs
/// `@`, `at` or `à`.
fn bullet(line: &str) -> Option<regex::Captures<'_>> {
    let line = without_list_number(line);
    let head = line.trim_start().trim_start_matches(['-', '*', '•', '·']);
    let maybe = head.trim_start().starts_with(|c: char| c.is_ascii_digit())
        && (line.contains(['@', 'à']) || contains_ci(line, "at"));
    maybe.then(|| rx(&BULLET)?.captures(line)).flatten()
}

/// A numbered list's item without its number ("1) 20 Stk. …", "2. 5 x …"), when the item
/// starts with its quantity after it; the line as it is otherwise.
fn without_list_number(line: &str) -> &str {
    re!(LIST_NUMBER, r"^\s*[0-9]{1,3}[).]\s+([0-9])");
    match rx(&LIST_NUMBER).and_then(|r| r.captures(line)) {
        Some(m) => m.get(1).map_or(line, |q| &line[q.start()..]),
        None => line,
    }
}

/// [`TOTAL`]: every match names a total.
fn stated_total(line: &str) -> Option<regex::Captures<'_>> {
    // "一共6615.5元": "altogether", the total in a chat.
    const WORDS: [&str; 9] = [
        "合计",
        "合計",
        "总计",
        "總計",
        "总金额",
        "總金額",
        "一共",
        "共计",
        "共計",
    ];
    let maybe = ["total", "gesamt", "totaal", "bestellwert"]
        .iter()
        .any(|w| contains_ci(line, w))
        || WORDS.iter().any(|w| line.contains(w));
    let m = maybe.then(|| rx(&TOTAL)?.captures(line)).flatten()?;
    // "一共3箱" counts boxes: "altogether" names a total only with its money ("一共6615.5元").
    let chat_word = ["一共", "共计", "共計"].contains(&m.get(1)?.as_str());
    let money = m.get(2).is_some()
        || m.get(3).is_some()
        || line[m.get(4)?.end()..]
            .trim_start()
            .starts_with(['元', '圓', '块', '塊']);
    (!chat_word || money).then_some(m)
}

/// [`PO_LABELLED`]: a match starts at a word start with `po`, `p.o`, `purchase` or `order`
/// (any case), so only those places are tried, in order, each with the pattern anchored there
/// ([`PO_LABELLED_AT`]); the first that matches is the leftmost match.
fn po_labelled(text: &str) -> Option<(String, usize)> {
    let lower = text.to_ascii_lowercase();
    let mut starts: Vec<usize> = ["po", "p.o", "purchase", "order"]
        .iter()
        .flat_map(|w| lower.match_indices(w).map(|(at, _)| at))
        .filter(|&at| {
            let before = lower.as_bytes()[..at].last();
            !before.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                // "your order no. 4711": the order of the one written to.
                && !lower.get(..at).is_some_and(yours)
                && !lower.get(..at).is_some_and(repeated)
        })
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let re = rx(&PO_LABELLED_AT)?;
    starts.into_iter().find_map(|at| {
        let m = re.captures(&text[at..])?.get(1)?;
        // A value far to the right of a form's field heading that has its value below it
        // is another column's ([`below_label`]).
        let line_at = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        let label_end = at + text[at..at + m.start()].trim_end().len();
        if m.start() < line_end - at {
            let next = text[line_end..]
                .strip_prefix('\n')
                .and_then(|t| t.lines().next());
            let line = &text[line_at..line_end];
            if below_label(line, at - line_at, label_end - line_at, next).is_some() {
                return None;
            }
        } else if !text[at..label_end].contains('\n') {
            // A label that ends its line ("Date           P.O. No." over "05/14/2026
            // 1187"): its value is the one below it, not the next line's first word (a
            // label that runs on to the next line, "our new PO\nnumber is 4468", is prose).
            let next = text[line_end..]
                .strip_prefix('\n')
                .and_then(|t| t.lines().next());
            let line = &text[line_at..line_end];
            let label_end = label_end.min(line_end);
            let below = below_label(line, at - line_at, label_end - line_at, next)?;
            let value = reference_value(&below)?.0;
            let offset = text[line_end..]
                .find(value.as_str())
                .map_or(at, |i| line_end + i);
            return Some((value, offset));
        }
        Some((m.as_str().to_string(), at + m.start()))
    })
}

/// Whether text contains CJK ideographs.
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
}

/// Display width: CJK and full-width characters take two columns.
fn width(c: char) -> usize {
    if ('\u{1100}'..='\u{115F}').contains(&c)
        || ('\u{2E80}'..='\u{A4CF}').contains(&c)
        || ('\u{AC00}'..='\u{D7A3}').contains(&c)
        || ('\u{F900}'..='\u{FAFF}').contains(&c)
        || ('\u{FE30}'..='\u{FE4F}').contains(&c)
        || ('\u{FF00}'..='\u{FF60}').contains(&c)
        || ('\u{FFE0}'..='\u{FFE6}').contains(&c)
    {
        2
    } else {
        1
    }
}

/// A cell of a laid-out line: text between tabs, `|` or runs of two or more spaces, with its
/// display columns.
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    start: usize,
    end: usize,
    text: String,
}

/// A row's cells with a cell that starts with a number and whose words sit under different
/// header columns split into them: a fixed-width export writes the quantity and its unit one
/// space apart (`20 ADET` under `Miktar  Birim`), which reads as one cell.
fn split_across(cs: &[Cell], under: &dyn Fn(&Cell) -> Option<usize>) -> Vec<Cell> {
    let mut out = Vec::new();
    for c in cs {
        let words = words_of(c);
        let first = words.first().and_then(under);
        let numeric = c.text.starts_with(|ch: char| ch.is_ascii_digit());
        if numeric && words.len() > 1 && words.iter().any(|w| under(w) != first) {
            // Words under the same column stay together.
            let mut merged: Vec<(Option<usize>, Cell)> = Vec::new();
            for w in words {
                let at = under(&w);
                match merged.last_mut() {
                    Some((last, cell)) if *last == at => {
                        cell.text.push(' ');
                        cell.text.push_str(&w.text);
                        cell.end = w.end;
                    }
                    _ => merged.push((at, w)),
                }
            }
            out.extend(merged.into_iter().map(|(_, c)| c));
        } else {
            out.push(c.clone());
        }
    }
    out
}

/// A row's cells with a cell that runs into the next column of a fixed-width layout one
/// space apart split there ("Olio da taglio emulsionabile, tanica 20 l PZ" under
/// "Descrizione … U.M.", the name as wide as its column): a word after the first that starts
/// exactly where a header column right of the cell's own starts, a column no other cell of the
/// row is under, starts that column's cell. Only an item's name runs on so (a summary row's
/// label under the amounts is no row of the table).
fn split_at_heads(
    cs: &[Cell],
    header: &[Cell],
    cols: &[Option<&str>],
    under: &dyn Fn(&Cell) -> Option<usize>,
) -> Vec<Cell> {
    let mut out = Vec::new();
    for (at, c) in cs.iter().enumerate() {
        let words = words_of(c);
        let own = words
            .first()
            .and_then(under)
            .filter(|&o| cols.get(o) == Some(&Some("name")));
        let taken = |h: usize| {
            cs.iter()
                .enumerate()
                .any(|(k, o)| k != at && under(o) == Some(h))
        };
        let cut = words.iter().enumerate().skip(1).find_map(|(k, w)| {
            let h = header.iter().position(|h| h.start == w.start)?;
            (own.is_some_and(|o| h > o) && !taken(h)).then_some(k)
        });
        match cut {
            Some(k) => {
                let join = |ws: &[Cell]| Cell {
                    start: ws[0].start,
                    end: ws[ws.len() - 1].end,
                    text: ws
                        .iter()
                        .map(|w| w.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                out.push(join(&words[..k]));
                out.push(join(&words[k..]));
            }
            None => out.push(c.clone()),
        }
    }
    out
}

/// A cell's words (apart by single spaces), each a cell at its own place on the line.
fn words_of(c: &Cell) -> Vec<Cell> {
    let mut words = Vec::new();
    let mut col = c.start;
    for w in c.text.split(' ') {
        let end = col + w.chars().map(width).sum::<usize>();
        if !w.is_empty() {
            words.push(Cell {
                start: col,
                end,
                text: w.to_string(),
            });
        }
        col = end + 1;
    }
    words
}

/// A sheet row's cells (no places on a line: a sheet has columns).
fn grid_cells(row: &[String]) -> Vec<Cell> {
    row.iter()
        .map(|t| Cell {
            start: 0,
            end: 0,
            text: t.trim().to_string(),
        })
        .collect()
}

fn cells(line: &str) -> Vec<Cell> {
    let mut out = Vec::new();
    let mut col = 0;
    let mut cur = String::new();
    let mut start = 0;
    let mut spaces = 0;
    let chars: Vec<char> = line.chars().collect();
    let flush = |cur: &mut String, start: usize, end: usize, out: &mut Vec<Cell>| {
        let t = cur.trim();
        if !t.is_empty() {
            out.push(Cell {
                start,
                end,
                text: t.to_string(),
            });
        }
        cur.clear();
    };
    for (i, &c) in chars.iter().enumerate() {
        let sep = c == '\t' || c == '|' || (c == ' ' && chars.get(i + 1) == Some(&' '));
        if sep || (c == ' ' && spaces > 0) {
            if !cur.trim().is_empty() {
                flush(&mut cur, start, col, &mut out);
            }
            spaces += 1;
            col += if c == '\t' { 4 } else { 1 };
            continue;
        }
        if cur.is_empty() {
            start = col;
        }
        if c == ' ' {
            spaces += 1;
        } else {
            spaces = 0;
        }
        cur.push(c);
        col += width(c);
    }
    flush(&mut cur, start, col, &mut out);
    out
}

/// Lower case, `_`/`-` as spaces, single spaces, trailing colon and `#`-free comparison form.
fn norm_label(s: &str) -> String {
    // Headings are often framed: "【納品先】", "[Ship to]", "■ お届け先".
    let s = s
        .trim()
        .trim_matches(|c: char| "【】[]〔〕《》<>■□◆◇●○*＊=".contains(c));
    let s = s.to_lowercase().replace(['_', '：'], " ").replace(':', " ");
    let mut s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    // A web form's note on its field ("PO number (optional)", "Phone (required) *").
    for note in FIELD_NOTES {
        if let Some(head) = s.strip_suffix(note) {
            let head = head.trim_end_matches([' ', '*']);
            if !head.is_empty() {
                s = head.to_string();
                break;
            }
        }
    }
    ocr_letters(&s)
}

/// A web form's notes after a field's name, which are no part of it.
const FIELD_NOTES: &[&str] = &[
    "(optional)",
    "(required)",
    "(if any)",
    "(if applicable)",
    "(if known)",
    "(optionnel)",
    "(facultatif)",
    "(opcional)",
    "(facoltativo)",
    "(optioneel)",
    "(falls vorhanden)",
    "(freiwillig)",
];

/// `s` with the digits that OCR reads for letters inside a word put back (`Tota1` → `total`,
/// `exc1.` → `excl.`, `BESTELB0N` → `bestelbon`): a lone `0`, `1` or `5` between two letters,
/// or ending a word of three letters or more. Lower case. A code (`A1`, `PO12345`) keeps its
/// digits: they stand beside digits or after fewer letters.
pub fn ocr_letters(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let letter = |i: usize| chars.get(i).is_some_and(|c| c.is_alphabetic());
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let fixed = match c {
            '0' => 'o',
            '1' => 'l',
            '5' => 's',
            _ => {
                out.extend(c.to_lowercase());
                continue;
            }
        };
        let after_letters = (1..=i).take_while(|k| letter(i - k)).count();
        let next = chars.get(i + 1);
        let between = after_letters >= 1 && letter(i + 1);
        let ends_word = after_letters >= 3 && !next.is_some_and(|n| n.is_alphanumeric());
        out.push(if between || ends_word { fixed } else { c });
    }
    out
}

/// Whether `head` is `label` with one character mistyped, missed or misread (`Leverinqsadres`
/// for `leveringsadres`): only for labels of ten characters or more, which no other label is
/// that close to.
fn near_label(label: &str, head: &str) -> bool {
    // Cheap refusals first: most cells are far from every label (one edit changes a length
    // in bytes by four at most).
    if label.len() < 10 || label.len().abs_diff(head.len()) > 4 {
        return false;
    }
    let (a, b): (Vec<char>, Vec<char>) = (label.chars().collect(), head.chars().collect());
    if a.len() < 10 || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    // The common prefix and suffix; what is left must be one edit.
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    a.len() - pre - suf <= 1 && b.len() - pre - suf <= 1
}

/// Largest magnitude a number written by a person is read as (a quantity, price or amount):
/// 100 billion, more than any order's, so that the checks' products and sums of such numbers
/// (quantity × unit price over every line) stay far inside [`Decimal`]'s range instead of
/// overflowing (found by the `pdf_text` fuzz target: a 28-digit quantity times a price).
pub const MAX_NUMBER: Decimal = Decimal::from_parts(1_215_752_192, 23, 0, false, 0);

/// Whether a number written by a person is negative: a minus sign (`-`, `−`, `–`) before
/// its digits (after a currency mark or not: `-12.50`, `−5,00 €`, `€ -5`), a minus sign
/// right after them (`12.50-`), or the whole number in brackets (`(12.50)`, `$(12.50)`).
pub fn negative_number(s: &str) -> bool {
    const MINUS: [char; 3] = ['-', '−', '–'];
    let t = s.trim();
    let (Some(first), Some(last)) = (
        t.find(|c: char| c.is_ascii_digit()),
        t.rfind(|c: char| c.is_ascii_digit()),
    ) else {
        return false;
    };
    let (head, tail) = (&t[..first], &t[last + 1..]);
    // A currency's mark or code between the sign and the digits ("-€5", "-EUR 5", "(£12)").
    let symbol = |c: char| c.is_ascii_uppercase() || "$€£¥￥₹₺₩₪₱₫฿".contains(c);
    let mark = |c: char| c.is_whitespace() || symbol(c);
    // The sign touches the digits or the mark: "Total - 12.50" is a label's dash.
    let near = head.trim_end();
    let marked = near.trim_end_matches(symbol);
    let signed = (near.len() == head.len() || marked.len() < near.len())
        && marked.strip_suffix(MINUS).is_some_and(|b| {
            // A hyphen after a letter or digit joins a code ("PT-10"): no sign.
            !b.chars().next_back().is_some_and(char::is_alphanumeric)
        });
    let bracketed = head.trim_end_matches(mark).ends_with('(')
        && tail.trim_start_matches(mark).starts_with(')');
    signed || tail.starts_with(MINUS) || bracketed
}

/// Parses a decimal written by a person: currency marks and spaces dropped, a decimal comma
/// where it must be one (or where the sender uses them), negative when written so
/// ([`negative_number`]). `None` above [`MAX_NUMBER`].
pub fn parse_decimal(s: &str, decimal_comma: bool) -> Option<Decimal> {
    if two_amounts(s) {
        return None;
    }
    let magnitude = unsigned_decimal(s, decimal_comma)?;
    Some(if negative_number(s) {
        -magnitude
    } else {
        magnitude
    })
}

/// [`parse_decimal`] without its sign: the number's magnitude.
fn unsigned_decimal(s: &str, decimal_comma: bool) -> Option<Decimal> {
    // The number is the first run of digits with the separators inside it (a space only
    // between digits, grouping them). Digits after it belong to something else ("12.50 (1
    // kg)", "€4.20 / 100 g"): never glued on, and the text is no one number.
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let mut end = start;
    let mut chars = s[start..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let digit_next = chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
        if c.is_ascii_digit() {
            end = start + i + 1;
        } else if !((".,'’".contains(c) || c.is_whitespace()) && digit_next) {
            break;
        }
    }
    if s[end..].chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let t: String = s[start..end]
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .collect();
    let t = t.trim_matches(|c| c == '.' || c == ',' || c == '-');
    if t.is_empty() || !t.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let (dots, commas) = (t.matches('.').count(), t.matches(',').count());
    let text = if dots > 0 && commas > 0 {
        let last_dot = t.rfind('.').unwrap_or(0);
        let last_comma = t.rfind(',').unwrap_or(0);
        if last_comma > last_dot {
            t.replace('.', "").replace(',', ".")
        } else {
            t.replace(',', "")
        }
    } else if commas > 0 {
        let after = t.len() - t.rfind(',').unwrap_or(0) - 1;
        // "0,125" cannot group thousands: it is a decimal whatever the convention.
        if commas == 1 && (decimal_comma || after <= 2 || t.starts_with("0,")) {
            t.replace(',', ".")
        } else {
            t.replace(',', "")
        }
    } else if dots > 1 || (decimal_comma && t.len() - t.rfind('.').unwrap_or(0) - 1 == 3) {
        t.replace('.', "")
    } else {
        t.to_string()
    };
    Decimal::from_str(&text)
        .ok()
        .filter(|d| d.abs() <= MAX_NUMBER)
        .map(|d| d.normalize())
}

/// Two amounts side by side ("14,20 13,60": a price struck and written again beside it, as a
/// fax's text layer reads it): a number with its cents, then another number after a space.
/// No one amount; grouping with a space ("3 510,79", "1 500") leaves no cents before it.
fn two_amounts(s: &str) -> bool {
    let numbers: Vec<&str> = s.split_whitespace().collect();
    numbers.windows(2).any(|w| {
        let number = |t: &str| {
            t.starts_with(|c: char| c.is_ascii_digit())
                && t.chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        };
        let cents = w[0]
            .rfind(['.', ','])
            .is_some_and(|at| (2..=3).contains(&(w[0].len() - at)));
        number(w[0]) && number(w[1]) && cents
    })
}

/// Whether a number is written as `1.250` or `1,250`: one separator, then three digits,
/// which is a thousand and something or one and a fraction by the writer's convention.
fn grouped_thousands(s: &str) -> bool {
    let t = s.trim();
    let head: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .collect();
    let seps = head.matches(['.', ',']).count();
    seps == 1
        && head
            .rsplit(['.', ','])
            .next()
            .is_some_and(|tail| tail.len() == 3)
        && !head.starts_with("0")
}

/// Leading quantity of a cell (`12`, `12.000`, `20箱`, `10 pcs`).
fn parse_quantity(s: &str, decimal_comma: bool) -> Option<Decimal> {
    let t = s.trim();
    let end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
        .map_or(t.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    // "1 500", "1 500 szt.": thousands grouped by spaces, the whole cell a count.
    re!(
        SPACE_GROUPED,
        r"(?i)^([0-9]{1,3}(?:[\s\x{A0}\x{202F}][0-9]{3})+)(?:\s*(?:szt|stk|st|ks|kpl|pcs|pz|uds|db|kom|шт)\.?)?$"
    );
    if let Some(m) = rx(&SPACE_GROUPED).and_then(|r| r.captures(t)) {
        return parse_decimal(&m[1], decimal_comma).filter(|d| *d > Decimal::ZERO);
    }
    let rest = t[end..].trim();
    // "12 x 5" or "3-4" are not quantities; a unit word is fine.
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    parse_decimal(&t[..end], decimal_comma).filter(|d| *d > Decimal::ZERO)
}

/// Currency code for a mark or code (`$` is taken as USD).
pub fn currency_of(mark: &str) -> Option<&'static str> {
    Some(match mark.trim().to_uppercase().as_str() {
        // `$` alone is not here: several countries write it ([`currency`] reads it by country).
        "USD" | "US$" => "USD",
        "GBP" | "£" => "GBP",
        "EUR" | "€" => "EUR",
        "CNY" | "RMB" | "¥" | "￥" | "元" | "人民币" | "人民幣" => "CNY",
        "HKD" | "HK$" => "HKD",
        "TWD" | "NTD" | "NT$" => "TWD",
        "CAD" => "CAD",
        "AUD" => "AUD",
        "JPY" => "JPY",
        "CHF" => "CHF",
        // Codes read as words ([`CODES`]) name themselves.
        "NZD" => "NZD",
        "MXN" => "MXN",
        "BRL" => "BRL",
        // "Unit Price (S$)": Singapore writes its dollar with an S.
        "SGD" | "S$" => "SGD",
        "SEK" => "SEK",
        "NOK" => "NOK",
        "DKK" => "DKK",
        "PLN" | "ZŁ" => "PLN",
        "CZK" | "KČ" => "CZK",
        "INR" | "₹" => "INR",
        "KRW" | "₩" | "원" => "KRW",
        "ZAR" => "ZAR",
        "HUF" | "FT" => "HUF",
        "TRY" | "TL" | "₺" => "TRY",
        "RON" | "LEI" => "RON",
        "AED" => "AED",
        "MAD" | "DH" => "MAD",
        "UAH" | "ГРН" | "₴" => "UAH",
        "MYR" | "RM" => "MYR",
        "IDR" | "RP" => "IDR",
        "ILS" | "NIS" | "₪" => "ILS",
        "SAR" | "ر.س" => "SAR",
        "PHP" | "₱" => "PHP",
        "THB" | "฿" | "บาท" => "THB",
        "VND" | "VNĐ" | "₫" => "VND",
        "ISK" => "ISK",
        "ARS" => "ARS",
        "CLP" => "CLP",
        "COP" => "COP",
        "ALL" | "LEKË" => "ALL",
        "RSD" | "ДИН." | "ДИН" | "DIN." | "DIN" => "RSD",
        "BGN" | "ЛВ." | "ЛВ" => "BGN",
        "TZS" | "TSH" | "TSH." => "TZS",
        // "UNIT PRICE (KSHS)", "TOTAL KSHS": Kenya's shillings, the plural too.
        "KES" | "KSH" | "KSH." | "KSHS" | "KSHS." => "KES",
        "NGN" | "₦" => "NGN",
        "PEN" | "S/" | "S/." => "PEN",
        _ => return None,
    })
}

/// The currency a bracket in a column header names: `Preț unitar (lei)`, `Rate (₹)`,
/// `Amount (AED)`, `單價(NT$)`.
fn bracketed_currency(header: &str) -> Option<&'static str> {
    let open = header.rfind(['(', '（'])?;
    let inner = &header[open..];
    let inner = inner
        .trim_start_matches(['(', '（'])
        .split([')', '）'])
        .next()?
        .trim();
    (!inner.is_empty()).then(|| currency_of(inner)).flatten()
}

/// The currency a text's unambiguous mark names (`R$`, `£`, `€`, `CHF`, `NT$`, `円`, a code
/// as a word); `$` and `¥` alone name none (several currencies write them).
fn currency_mark(text: &str) -> Option<&'static str> {
    for (mark, code) in [
        ("R$", "BRL"),
        ("US$", "USD"),
        ("NT$", "TWD"),
        ("HK$", "HKD"),
        ("NZ$", "NZD"),
        ("A$", "AUD"),
        ("C$", "CAD"),
        ("£", "GBP"),
        ("€", "EUR"),
        ("円", "JPY"),
        ("元", "CNY"),
    ] {
        if text.contains(mark) {
            return Some(code);
        }
    }
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() == 3 && w.chars().all(|c| c.is_ascii_uppercase()))
        .find_map(|w| CODES.contains(&w).then(|| currency_of(w)).flatten())
}

/// A country written at the end of an address.
fn country_of(s: &str) -> Option<&'static str> {
    country_named(s).or_else(|| {
        // "België / Belgique": one country named in two languages.
        let mut parts = s.split('/');
        let first = country_named(parts.next()?)?;
        let mut more = false;
        for part in parts {
            if country_named(part)? != first {
                return None;
            }
            more = true;
        }
        more.then_some(first)
    })
}

/// The country a name (in one language) names.
fn country_named(s: &str) -> Option<&'static str> {
    Some(
        match s.trim().trim_end_matches('.').to_lowercase().as_str() {
            "usa" | "us" | "u.s.a" | "u.s" | "united states" | "united states of america" => "US",
            "uk" | "united kingdom" | "great britain" | "england" | "scotland" | "wales" | "gb" => {
                "GB"
            }
            "ireland" | "éire" => "IE",
            "china" | "pr china" | "p.r. china" | "prc" | "中国" | "中國" => "CN",
            "taiwan" | "台灣" | "臺灣" | "台湾" => "TW",
            "hong kong" | "香港" => "HK",
            "canada" => "CA",
            "germany" | "deutschland" | "allemagne" | "alemania" | "duitsland" | "germania"
            | "alemanha" | "ドイツ" | "德国" | "德國" => "DE",
            "france" | "frankreich" | "francia" | "frankrijk" | "frança" | "フランス" | "法国"
            | "法國" => "FR",
            "spain" | "españa" | "espana" | "spanien" | "espagne" | "spanje" | "spagna"
            | "espanha" => "ES",
            "netherlands" | "the netherlands" | "nederland" | "holland" | "niederlande"
            | "pays-bas" | "países bajos" | "paesi bassi" | "países baixos" => "NL",
            "belgium" | "belgië" | "belgique" | "belgien" | "bélgica" | "belgio" => "BE",
            "austria" | "österreich" | "autriche" | "oostenrijk" => "AT",
            "switzerland" | "schweiz" | "suisse" | "svizzera" | "suiza" | "zwitserland" => "CH",
            "italy" | "italia" | "italien" | "italie" | "italië" | "itália" => "IT",
            "portugal" => "PT",
            "brazil" | "brasil" | "brasilien" | "brésil" => "BR",
            "chile" => "CL",
            "argentina" => "AR",
            "colombia" => "CO",
            "south africa" | "suid-afrika" => "ZA",
            "czech republic" | "czechia" | "česko" | "česká republika" => "CZ",
            "finland" | "suomi" => "FI",
            "mexico" | "méxico" | "mexique" | "mexiko" => "MX",
            "luxembourg" | "luxemburg" => "LU",
            "denmark" | "danmark" | "dänemark" => "DK",
            "sweden" | "sverige" | "schweden" => "SE",
            "norway" | "norge" => "NO",
            "poland" | "polska" | "polen" => "PL",
            "japan" | "日本" | "nippon" | "japon" | "japón" | "giappone" | "japão" => "JP",
            "australia" => "AU",
            "new zealand" | "aotearoa" => "NZ",
            "singapore" => "SG",
            "south korea" | "korea" | "대한민국" | "韓国" | "韩国" => "KR",
            "slovakia" | "slovensko" | "slovenská republika" => "SK",
            "croatia" | "hrvatska" => "HR",
            "latvia" | "latvija" => "LV",
            "ukraine" | "україна" => "UA",
            "malaysia" => "MY",
            "sri lanka" => "LK",
            "indonesia" => "ID",
            "israel" | "ישראל" => "IL",
            "saudi arabia" | "المملكة العربية السعودية" | "السعودية" => {
                "SA"
            }
            "india" | "भारत" | "bharat" | "hindustan" => "IN",
            "tanzania" | "tanzania, united republic of" => "TZ",
            "kenya" => "KE",
            "uganda" => "UG",
            "peru" | "perú" | "pérou" => "PE",
            "ecuador" => "EC",
            "bolivia" => "BO",
            "venezuela" => "VE",
            "uruguay" => "UY",
            "paraguay" => "PY",
            "costa rica" => "CR",
            "panamá" | "panama" => "PA",
            "guatemala" => "GT",
            "bulgaria" | "българия" | "bulgarie" | "bulgarien" => "BG",
            "serbia" | "србија" | "srbija" | "serbie" | "serbien" => "RS",
            "slovenia" | "slovenija" => "SI",
            "hungary" | "magyarország" | "ungarn" => "HU",
            "romania" | "românia" | "rumänien" => "RO",
            "greece" | "ελλάδα" | "griechenland" | "grèce" => "GR",
            "turkey" | "türkiye" | "turkiye" => "TR",
            "iceland" | "ísland" => "IS",
            "lithuania" | "lietuva" => "LT",
            "estonia" | "eesti" => "EE",
            "albania" | "shqipëria" | "shqipëri" => "AL",
            "thailand" | "ประเทศไทย" => "TH",
            "vietnam" | "việt nam" | "viet nam" => "VN",
            "philippines" | "pilipinas" => "PH",
            "egypt" | "مصر" => "EG",
            "morocco" | "maroc" | "المغرب" => "MA",
            "nigeria" => "NG",
            "ghana" => "GH",
            "pakistan" => "PK",
            "bangladesh" => "BD",
            "united arab emirates"
            | "uae"
            | "u.a.e"
            | "الإمارات العربية المتحدة"
            | "الإمارات"
            | "emirats arabes unis"
            | "vereinigte arabische emirate" => "AE",
            "liechtenstein" => "LI",
            "malta" => "MT",
            "cyprus" | "κύπρος" | "chypre" | "zypern" => "CY",
            "monaco" => "MC",
            "andorra" | "andorre" => "AD",
            "qatar" | "قطر" => "QA",
            "kuwait" | "الكويت" => "KW",
            "bahrain" | "البحرين" => "BH",
            "oman" | "sultanate of oman" => "OM",
            "jordan" | "الأردن" => "JO",
            "lebanon" | "لبنان" | "liban" => "LB",
            "russia" | "russian federation" | "россия" | "российская федерация" => {
                "RU"
            }
            "belarus" | "беларусь" => "BY",
            "kazakhstan" | "казахстан" | "қазақстан" => "KZ",
            "moldova" | "republica moldova" => "MD",
            "montenegro" | "crna gora" | "црна гора" => "ME",
            "bosnia and herzegovina" | "bosna i hercegovina" | "босна и херцеговина" => {
                "BA"
            }
            "north macedonia" | "северна македонија" => "MK",
            // Two-letter codes written as the country line.
            "de" => "DE",
            "fr" => "FR",
            "nl" => "NL",
            "be" => "BE",
            "at" => "AT",
            "ch" => "CH",
            "it" => "IT",
            "es" => "ES",
            "pt" => "PT",
            "ie" => "IE",
            "jp" => "JP",
            "cn" => "CN",
            "au" => "AU",
            "nz" => "NZ",
            "ca" => "CA",
            "hk" => "HK",
            "tw" => "TW",
            "lu" => "LU",
            "dk" => "DK",
            "se" => "SE",
            "pl" => "PL",
            _ => return None,
        },
    )
}

/// The extraction context: the sender's template and how much the text itself can be trusted
/// (1 for typed text, lower for OCR).
pub struct Ctx<'a> {
    /// The sender's template, if any.
    pub template: Option<&'a Template>,
    /// Multiplies every confidence (OCR text is less certain).
    pub trust: f64,
    /// Whether the document's own numbers use a decimal comma ([`infer_decimal_comma`]);
    /// the template's setting wins.
    pub decimal_comma: Option<bool>,
    /// The country of the sender's domain (`.de` → `DE`), which confirms (never alone
    /// decides) the country of an address whose postcode has that country's form.
    pub sender_country: Option<String>,
    /// The country whose language the document is written in, where the language names one
    /// country among those with a postcode of that form ([`language_country`]).
    pub language_country: Option<&'static str>,
    /// The country of the VAT numbers the document writes (`BTW BE 0456.123.789`), when they
    /// are all of one country ([`vat_country`]): it confirms a guess, never decides alone.
    pub vat_country: Option<&'static str>,
}

impl<'a> Ctx<'a> {
    /// A context with nothing inferred yet.
    pub fn new(template: Option<&'a Template>, trust: f64) -> Self {
        Ctx {
            template,
            trust,
            decimal_comma: None,
            sender_country: None,
            language_country: None,
            vat_country: None,
        }
    }
}

impl Ctx<'_> {
    /// Whether the sender writes numbers with a decimal comma (`18,40`).
    pub fn decimal_comma(&self) -> bool {
        self.template.is_some_and(|t| t.decimal_comma) || self.decimal_comma == Some(true)
    }

    /// `field`'s labels in [`norm_label`] form: the template's, then the built-in ones
    /// (normalized once per process).
    fn labels(&self, field: &str) -> Vec<Cow<'static, str>> {
        static BUILTIN: LazyLock<BTreeMap<&'static str, Vec<String>>> = LazyLock::new(|| {
            super::template::FIELDS
                .iter()
                .map(|f| {
                    (
                        *f,
                        builtin_labels(f).iter().map(|l| norm_label(l)).collect(),
                    )
                })
                .collect()
        });
        let custom = self.template.map_or(&[][..], |t| t.labels(field));
        let builtin = BUILTIN.get(field).map_or(&[][..], Vec::as_slice);
        custom
            .iter()
            .map(|l| Cow::Owned(norm_label(l)))
            .chain(builtin.iter().map(|l| Cow::Borrowed(l.as_str())))
            .collect()
    }

    fn put(&self, facts: &mut Facts, path: &str, value: Option<String>, confidence: f64) {
        let Some(value) = value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        else {
            return;
        };
        let confidence = (confidence * self.trust).clamp(0.0, 1.0);
        match facts.get(path) {
            Some(f) if f.confidence >= confidence => {}
            _ => {
                facts.insert(path.to_string(), Fact { value, confidence });
            }
        }
    }
}

/// A labelled value found in the text.
struct Labelled {
    /// Line index.
    line: usize,
    /// Display column where the label starts.
    col: usize,
    /// The value after the label (empty when it is on the following lines).
    value: String,
}

/// The text being read: its lines, each split into cells, and every cell's reading as a
/// possible `label: value`. Computed once per text; the extraction looks at them many times.
struct Layout<'t> {
    /// The lines.
    lines: Vec<&'t str>,
    /// The cells of each line.
    cells: Vec<Vec<Cell>>,
    /// Every cell read as a possible label, in line and cell order.
    labels: Vec<LabelCell>,
}

/// A cell read as `label: value`, `label value-after-#` or a bare label.
struct LabelCell {
    /// Line index.
    line: usize,
    /// Display column where the cell starts.
    col: usize,
    /// The part before the colon (or the whole cell), in [`norm_label`] form.
    head: String,
    /// When the cell has a `#`: the part up to and including it, in [`norm_label`] form.
    head_hash: Option<String>,
    /// Whether the cell has a colon.
    colon: bool,
    /// The value the label gives: after the colon, else after the `#`, else the next cell
    /// when the label's own value is empty (`PO Number:    MGFD-1`).
    value: String,
}

impl<'t> Layout<'t> {
    fn new(text: &'t str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let cells: Vec<Vec<Cell>> = lines.iter().map(|l| cells(l)).collect();
        let mut labels = Vec::new();
        for (i, cs) in cells.iter().enumerate() {
            for (k, cell) in cs.iter().enumerate() {
                let text = cell.text.trim_start_matches(['-', '*', '•']).trim();
                let (head, rest, colon) = match text.find([':', '：']) {
                    Some(at) => {
                        let sep = text[at..].chars().next().map_or(1, char::len_utf8);
                        (&text[..at], text[at + sep..].trim(), true)
                    }
                    None => (text, "", false),
                };
                let hash = text.find('#');
                // A blank to fill in ("Deliver to: ________", a scan's speck) is no value.
                let blank = |v: &str| !v.chars().any(char::is_alphanumeric);
                let mut value = rest.to_string();
                if let (false, Some(at)) = (colon, hash) {
                    value = text[at + 1..].trim().to_string();
                }
                if blank(&value) {
                    value.clear();
                }
                if value.is_empty() && colon {
                    if let Some(next) = cs.get(k + 1) {
                        if !next.text.contains([':', '：'])
                            && !blank(&next.text)
                            && !columns_below(&cells, i, cell.start, next.start)
                        {
                            value = next.text.clone();
                        }
                    }
                }
                labels.push(LabelCell {
                    line: i,
                    col: cell.start,
                    head: norm_label(head.trim_end_matches('#').trim()),
                    head_hash: hash.map(|at| norm_label(&text[..at + 1])),
                    colon,
                    value,
                });
            }
        }
        Layout {
            lines,
            cells,
            labels,
        }
    }
}

/// Whether the two lines below line `i` each hold an unlabelled cell at the label's column
/// `col` and another at `beside` (the next cell's column on the label's line): the label
/// heads the block below it and the text beside it starts another block ("Adresse de
/// livraison :   Maison Verhaegen SA" over our name and street, the supplier's beside
/// them), so that text is no value of the label.
fn columns_below(cells: &[Vec<Cell>], i: usize, col: usize, beside: usize) -> bool {
    let plain = |c: &&Cell| !c.text.contains([':', '：']);
    (i + 1..=i + 2).all(|j| {
        cells.get(j).is_some_and(|cs| {
            cs.first()
                .filter(plain)
                .is_some_and(|c| c.start.abs_diff(col) <= 2)
                && cs
                    .iter()
                    .skip(1)
                    .filter(plain)
                    .any(|c| c.start.abs_diff(beside) <= 1)
        })
    })
}

/// Finds `label: value` (or `label：value`; or a cell that is exactly the label, for form
/// headings like `SHIP TO`) for `field`.
fn find_labelled(layout: &Layout, ctx: &Ctx, field: &str, bare_ok: bool) -> Vec<Labelled> {
    let labels = ctx.labels(field);
    // Greek capitals drop their accents ("ΤΟΠΟΣ ΠΑΡΑΔΟΣΗΣ"): Greek is compared without them.
    let greek = |s: &str| s.chars().any(|c| ('\u{370}'..='\u{3ff}').contains(&c));
    let is_label = |s: &str| {
        // "Please send to:", "Kindly deliver to:": a polite word before a delivery label.
        let s = match field {
            "ship_to" => ["please ", "pls ", "kindly "]
                .iter()
                .find_map(|p| s.strip_prefix(p))
                .unwrap_or(s),
            _ => s,
        };
        labels.iter().any(|l| l == s || near_label(l, s))
            || (greek(s) && {
                let s = super::checks::greek_unaccented(s);
                labels
                    .iter()
                    .any(|l| greek(l) && super::checks::greek_unaccented(l) == s)
            })
    };
    layout
        .labels
        .iter()
        .filter(|c| {
            // "Destinatario / Dirección de entrega": a heading that joins two names of it.
            let joined = c.head.contains('/')
                && c.head.split('/').any(|p| is_label(p.trim()))
                && !(field == "ship_to" && INVOICE_WORDS.iter().any(|w| c.head.contains(w)));
            let hit = is_label(&c.head) || joined || c.head_hash.as_deref().is_some_and(is_label);
            // A heading alone on its line ("Verzendadres", "Shipping address") is a label too.
            let alone =
                layout.cells.get(c.line).is_some_and(|cs| cs.len() == 1) && field == "ship_to";
            hit && (c.colon || bare_ok || alone || c.head_hash.is_some())
        })
        .map(|c| Labelled {
            line: c.line,
            col: c.col,
            value: c.value.clone(),
        })
        .collect()
}

/// Words that name the delivery itself ("Deliver to", "Lieferadresse", "送货").
const DELIVERY_ONLY: &[&str] = &[
    "deliver",
    "ship",
    "delivery",
    "liefer",
    "livr",
    "entreg",
    "envia",
    "enviar",
    "lever",
    "bezorg",
    "consegn",
    "spedi",
    "送货",
    "送貨",
    // "請於9/22前送到：", "送至：": deliver to.
    "送到",
    "送至",
    // "交货地址：": the address the goods are handed over at.
    "交货",
    "交貨",
    "收货",
    "收貨",
    "届け",
    "配送",
    "納品",
    "despach",
    "kirim",
    "dostav",
    "doruč",
    "piegād",
    "доставк",
];

/// Whether a delivery label's heading names the delivery ("收货地址", "Delivery address"),
/// not only an address ("地址", "Address"): a form's letterhead has an address of its own
/// above the one the goods go to.
fn names_delivery(layout: &Layout, l: &Labelled) -> bool {
    layout
        .labels
        .iter()
        .find(|c| c.line == l.line && c.col == l.col)
        .is_some_and(|c| DELIVERY_ONLY.iter().any(|w| c.head.contains(w)))
}

/// Words that name an address but not whose ("Address", "Anschrift", "地址").
const ADDRESS_WORDS: &[&str] = &[
    "address",
    "adres",
    "anschrift",
    "dirección",
    "indirizzo",
    "endereço",
    "morada",
    "住所",
    "地址",
];

/// Whether `t` holds a word of a heading that announces where the goods go ("Delivery to the
/// shop:", "收货信息："): one that names the delivery or one that names an address.
fn delivery_word(t: &str) -> bool {
    DELIVERY_ONLY
        .iter()
        .chain(ADDRESS_WORDS)
        .any(|w| t.contains(w))
}

/// Words of a heading about the invoice: the address the invoice goes to is not where the
/// goods go.
const INVOICE_WORDS: &[&str] = &[
    "bill", "invoice", "rechnung", "factur", "fattur", "fatur", "请求", "請求", "发票", "發票",
];

/// Whether a short text is the heading of an address block, and whose: `Some(true)` for the
/// place the goods go (`Deliver To`, `Ship to`, `Lieferadresse`, `Dirección de envío`),
/// `Some(false)` for another party's (`Invoice To`, `Bill To`, `Rechnungsadresse`,
/// `Supplier`), `None` for any other text (a value, a sentence, anything with a digit).
pub fn address_heading(text: &str) -> Option<bool> {
    const PARTIES: &[&str] = &[
        "supplier",
        "vendor",
        "buyer",
        "customer",
        "sold to",
        "lieferant",
        "fournisseur",
        "proveedor",
        "fornitore",
        "fornecedor",
        "leverancier",
    ];
    let t = text.trim().trim_end_matches([':', '：']).to_lowercase();
    if t.is_empty() || digits(&t) > 0 || t.split_whitespace().count() > 4 {
        return None;
    }
    // "Address" alone says no whose; "Customer delivery address" is the delivery's.
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(INVOICE_WORDS) {
        Some(false)
    } else if has(DELIVERY_ONLY) {
        Some(true)
    } else if has(PARTIES) {
        Some(false)
    } else {
        has(ADDRESS_WORDS).then_some(true)
    }
}

/// A sentence that ends in a colon and asks for the goods to be sent somewhere ("Send it to
/// our warehouse at:", "Please send to:"); the address must follow it.
fn send_to(t: &str) -> bool {
    re!(SEND_TO, r"(?i)\bsend\b(?:\s+\S+){0,2}\s+to\b[^:]*:$");
    rx(&SEND_TO).is_some_and(|r| r.is_match(t.trim()))
}

/// Which lines belong to a delivery block: from a delivery heading or label (`Ship to:`,
/// `收货人：`, `收货信息：`) to the next blank line, and on past blank lines while the next
/// line is another labelled part of it (`电话：`, `地址：`, `邮编：`: an HTML message writes
/// each in its own paragraph). A phone written there is the delivery place's (its
/// contact's), not the sender's own.
fn delivery_lines(layout: &Layout, ctx: &Ctx, kind: Kind) -> Vec<bool> {
    let mut part = vec![false; layout.lines.len()];
    for field in ["ship_to", "consignee", "recipient", "phone", "postal_code"] {
        for l in find_labelled(layout, ctx, field, false) {
            part[l.line] = true;
        }
    }
    // A form's letterhead has an address of its own ("地址：…" with its phone below it) above
    // the one labelled as the delivery's ("交货地址：…"): when a label names the delivery,
    // a label that names only an address starts no delivery block.
    let ship_to = find_labelled(layout, ctx, "ship_to", kind == Kind::Form);
    let named = ship_to.iter().any(|l| names_delivery(layout, l));
    let mut starts: Vec<usize> = ship_to
        .iter()
        .filter(|l| !named || names_delivery(layout, l))
        .map(|l| l.line)
        .chain(
            find_labelled(layout, ctx, "recipient", false)
                .iter()
                .map(|l| l.line),
        )
        .chain(
            find_labelled(layout, ctx, "consignee", false)
                .iter()
                .map(|l| l.line),
        )
        .collect();
    starts.extend((0..layout.lines.len()).filter(|&i| {
        let t = layout.lines[i].trim().to_lowercase();
        (t.ends_with(':') || t.ends_with('：'))
            && delivery_word(&t)
            && !INVOICE_WORDS.iter().any(|w| t.contains(w))
    }));
    let mut inside = vec![false; layout.lines.len()];
    for start in starts {
        // A heading alone ("Ship to:", "收货信息：", "SHIP TO") may have blank lines below it.
        let t = layout.lines[start].trim();
        let heading = t.ends_with([':', '：']) || !t.contains([':', '：']);
        let (mut blank, mut body) = (false, !heading);
        for (i, l) in layout.lines.iter().enumerate().skip(start) {
            if l.trim().is_empty() {
                blank = true;
                continue;
            }
            // The heading's own line, the block below it (after blank lines, as
            // [`block_below`] reads it), then labelled parts past blank lines.
            if i > start && blank && body && !part[i] {
                break;
            }
            body |= i > start;
            blank = false;
            inside[i] = true;
        }
    }
    inside
}

/// Cuts a value at the next `Label:` on the same line ("(763) 555-0148 Fax: (763) 555-0149").
fn cut_at_next_label(value: &str) -> &str {
    re!(NEXT, r"\s[A-Za-z][A-Za-z .]{0,15}:");
    match rx(&NEXT).and_then(|r| r.find(value)) {
        Some(m) => &value[..m.start()],
        None => value,
    }
}

/// The block of non-blank lines below a heading at `col` (the column of the heading, so a
/// SHIP TO box beside a BILL TO box reads only its own column).
fn block_below(layout: &Layout, line: usize, col: usize, max: usize) -> Vec<String> {
    let mut rows: Vec<Vec<&Cell>> = Vec::new();
    for all in layout.cells.iter().skip(line + 1) {
        let cells: Vec<&Cell> = all
            .iter()
            .filter(|c| c.end > col.saturating_sub(2) && c.start + 3 >= col)
            .collect();
        let text = cells
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if text.trim().is_empty() {
            if !rows.is_empty() {
                break;
            }
            continue;
        }
        if header_columns(all, None).is_some() || is_closing(&text) {
            break;
        }
        rows.push(cells);
        if rows.len() >= max {
            break;
        }
    }
    // Two blocks side by side (our address under "Leveringsadres:", the supplier's beside
    // it): cells that start at one column right of the block in two rows or more, after a
    // first cell that is no label, are the other block's.
    let side = {
        let mut starts: Vec<usize> = rows
            .iter()
            .filter(|r| {
                r.first()
                    .is_some_and(|c| !c.text.trim_end().ends_with([':', '：']))
            })
            .flat_map(|r| r.iter().skip(1).map(|c| c.start))
            .filter(|&s| s > col + 10)
            .collect();
        starts.sort_unstable();
        starts
            .iter()
            .copied()
            .find(|&s| starts.iter().filter(|&&t| t.abs_diff(s) <= 1).count() >= 2)
    };
    let mut out = Vec::new();
    for row in rows {
        let text = row
            .iter()
            .filter(|c| side.is_none_or(|s| c.start + 1 < s))
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if text.trim().is_empty() {
            break;
        }
        out.push(text.trim().to_string());
    }
    out
}

/// An address beside its label, the label in a left column and the address in the next
/// ("Delivery Address    The Copper Kettle Café" with the street, town and postcode below
/// the name): the value and the lines under it at its column, up to a line with text left of
/// it (the next label, "Attention"). At least three lines, or it is no address block.
fn side_block(layout: &Layout, l: &Labelled) -> Option<Vec<String>> {
    let cs = layout.cells.get(l.line)?;
    if !l.value.is_empty() || cs.len() != 2 || cs[0].start != l.col {
        return None;
    }
    let col = cs[1].start;
    let mut out = vec![cs[1].text.trim().to_string()];
    for cells in layout.cells.iter().skip(l.line + 1) {
        let Some(first) = cells.first() else {
            break;
        };
        if first.start + 1 < col || first.start > col + 2 || out.len() >= 7 {
            break;
        }
        let text: Vec<&str> = cells.iter().map(|c| c.text.trim()).collect();
        out.push(text.join(" "));
    }
    (out.len() >= 3).then_some(out)
}

/// An address written as a web form writes it, each part after its own label (`Address:`,
/// `City:`, `State:`, `Zip:`, `Country:`, with `Name:` for whom): read as the block it stands
/// for. Returns whether there was one (a street, a city and a postcode or state at least).
fn fielded_address(layout: &Layout, ctx: &Ctx, facts: &mut Facts) -> bool {
    const FIELDS: [(&str, &[&str]); 6] = [
        (
            "name",
            &[
                "name",
                "full name",
                "contact name",
                "naam",
                "nom",
                "nombre",
                "nome",
                "tarne saaja",
                "saaja",
                "vastaanottaja",
                "címzett",
                "alıcı",
                "destinatar",
                "ime i prezime",
                "imię i nazwisko",
                "meno a priezvisko",
                "vārds, uzvārds",
            ],
        ),
        (
            "street",
            &[
                "address",
                "street",
                "street address",
                "address line 1",
                "straße",
                "strasse",
                "adresse",
                "rue",
                "dirección",
                "calle",
                "indirizzo",
                "via",
                "endereço",
                "morada",
                "adres",
                "straat",
                "aadress",
                "osoite",
                "katuosoite",
                "cím",
                "adresa",
                "adresa dostave",
                "adresa doručenia",
                "adres dostawy",
                "ulica",
                "ulica i broj",
                "iela",
            ],
        ),
        (
            "city",
            &[
                "city",
                "town",
                "stadt",
                "ort",
                "ville",
                "ciudad",
                "città",
                "cidade",
                "plaats",
                "woonplaats",
                "linn",
                "kaupunki",
                "postitoimipaikka",
                "város",
                "şehir",
                "oraș",
                "localitate",
                "grad",
                "mjesto",
                "miasto",
                "mesto",
                "pilsēta",
                "місто",
            ],
        ),
        (
            "region",
            &[
                "state",
                "province",
                "region",
                "county",
                "bundesland",
                "provincia",
                "estado",
                "provincie",
            ],
        ),
        (
            "postal",
            &[
                "zip",
                "zip code",
                "zipcode",
                "postcode",
                "postal code",
                "post code",
                "plz",
                "code postal",
                "cp",
                "c.p.",
                "código postal",
                "cap",
                "cep",
                "postiindeks",
                "sihtnumber",
                "postinumero",
                "irányítószám",
                "posta kodu",
                "cod poștal",
                "poštanski broj",
                "kod pocztowy",
                "psč",
                "pasta indekss",
                "індекс",
            ],
        ),
        (
            "country",
            &[
                "country", "land", "pays", "país", "paese", "pais", "riik", "maa", "ország",
                "ülke", "țara",
            ],
        ),
    ];
    let mut found: BTreeMap<&str, String> = BTreeMap::new();
    for c in layout
        .labels
        .iter()
        .filter(|c| c.colon && !c.value.is_empty())
    {
        // A field is its own line: the label starts it.
        if c.col > 2 {
            continue;
        }
        for (key, names) in FIELDS {
            if names.contains(&c.head.as_str()) && !found.contains_key(key) {
                found.insert(key, c.value.trim().to_string());
            }
        }
    }
    let (region, postal) = (found.get("region"), found.get("postal"));
    // "Código Postal: 1100-285 Lisboa", "Code postal : 75009 Paris": the postcode's field holds
    // the whole city line, the town after the code.
    let whole = postal
        .filter(|_| !found.contains_key("city"))
        .filter(|p| city_line(p).is_some_and(|c| c.city.is_some() && c.postal.is_some()));
    let Some(street) = found.get("street") else {
        return false;
    };
    let city_line = match (found.get("city"), whole) {
        (None, Some(whole)) => whole.clone(),
        (None, None) => return false,
        (Some(city), _) => match (region, postal) {
            (Some(r), Some(p)) => format!("{city}, {r} {p}"),
            (None, Some(p)) if p.starts_with(|c: char| c.is_ascii_digit()) => format!("{p} {city}"),
            (None, Some(p)) => format!("{city} {p}"),
            (Some(r), None) => format!("{city}, {r}"),
            (None, None) => return false,
        },
    };
    let mut lines = vec![
        found.get("name").cloned().unwrap_or_else(|| "-".into()),
        street.clone(),
        city_line,
    ];
    lines.extend(found.get("country").cloned());
    let mut tmp = Facts::new();
    address_block(&mut tmp, ctx, lines, 0.85);
    if !found.contains_key("name") {
        tmp.remove("ship_to.name");
    }
    for (k, v) in tmp {
        facts.insert(k, v);
    }
    true
}

/// Whether a line reads as an item of a list, not a line of an address: a bullet, or an item
/// priced with `@` ("Plain flour 16kg (FL-PL16) – 12 bags @ £14.20").
fn list_item(l: &str) -> bool {
    l.starts_with(['-', '*', '•'])
        || bullet(l).is_some()
        || (l.contains(" @ ") && l.chars().any(|c| c.is_ascii_digit()))
}

/// The first block of two to six lines (between blank lines) that ends with a city line whose
/// form implies its country (`Gunnison, CO 81230`, `Fitzroy VIC 3065`, `1015 KK Amsterdam`)
/// or with a postcode alone, and holds no list item: an address written without a label.
/// Two such blocks, each under its own heading ("Bakery:" … "Shop:"), are two places to
/// deliver to: neither is taken.
fn unlabelled_address(layout: &Layout) -> Option<Vec<String>> {
    let mut block: Vec<String> = Vec::new();
    let mut found: Option<Vec<String>> = None;
    let mut headed = 0;
    let is_address = |b: &[String]| {
        if !(2..=6).contains(&b.len()) {
            return false;
        }
        let listy = b
            .iter()
            .any(|l| list_item(l) || l.chars().filter(|c| *c == ' ').count() > 12);
        let mut rest = b;
        if rest.len() > 2 && rest.last().is_some_and(|l| country_of(l).is_some()) {
            rest = &rest[..rest.len() - 1];
        }
        let last = rest.last().map(|l| l.trim()).unwrap_or("");
        let city = city_line(last).is_some_and(|c| c.implies.is_some())
            || postcode_alone(last).is_some_and(|c| c.is_some())
            || rx(&UK_POSTCODE).is_some_and(|r| r.is_match(last));
        !listy && city && rest.len() >= 2
    };
    for line in layout.lines.iter().chain(std::iter::once(&"")) {
        let t = line.trim();
        if t.is_empty() {
            // A heading above the block ("Same place as always:") is not part of it.
            let mut heading = false;
            while block.first().is_some_and(|l| l.ends_with([':', '：'])) {
                block.remove(0);
                heading = true;
            }
            if is_address(&block) {
                headed += usize::from(heading);
                if found.is_some() {
                    return (headed < 2).then_some(found).flatten();
                }
                found = Some(std::mem::take(&mut block));
            }
            block.clear();
        } else {
            block.push(t.to_string());
        }
    }
    found
}

/// A postcode line without its label ("CEP 01304-001" → "01304-001").
fn postcode_unlabelled(line: &str) -> &str {
    let t = line.trim();
    let lower = t.to_lowercase();
    [
        "cep",
        "c.e.p.",
        "cp",
        "c.p.",
        "plz",
        "postcode",
        "post code",
        "zip",
        "código postal",
    ]
    .iter()
    .find_map(|l| {
        lower
            .strip_prefix(l)
            .filter(|r| r.starts_with([' ', ':', '.']))
            .map(|r| t[t.len() - r.len()..].trim_start_matches([' ', ':', '.']))
    })
    .unwrap_or(t)
}

/// A postcode alone on its line (its label may lead it), with the country its form implies:
/// `None` inside for a bare number of four to six digits ("Cape Town" / "8001"), which is a
/// postcode in many countries.
fn postcode_alone(line: &str) -> Option<Option<&'static str>> {
    let t = postcode_unlabelled(line);
    if (4..=6).contains(&t.len()) && t.chars().all(|c| c.is_ascii_digit()) {
        return Some(None);
    }
    postcode_form(t).map(Some)
}

/// The country a postcode written alone on its line implies by its form, if one does: a
/// Brazilian CEP (`01304-001`), a Portuguese (`1100-048`), Dutch (`1015 KK`), Canadian
/// (`K1P 5B5`), Japanese (`〒542-0081`) or Irish (an Eircode, `V95 X2T4`) postcode.
fn postcode_form(line: &str) -> Option<&'static str> {
    re!(BR_CEP, r"^[0-9]{5}-[0-9]{3}$");
    re!(PT_CP, r"^[0-9]{4}-[0-9]{3}$");
    re!(NL_PC, r"^[0-9]{4} ?[A-Z]{2}$");
    re!(CA_PC, r"^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$");
    re!(JP_PC, r"^〒\s*[0-9]{3}-[0-9]{4}$");
    let t = line.trim();
    [
        (&BR_CEP, "BR"),
        (&PT_CP, "PT"),
        (&NL_PC, "NL"),
        (&CA_PC, "CA"),
        (&JP_PC, "JP"),
        (&EIRCODE, "IE"),
    ]
    .into_iter()
    .find(|(re, _)| rx(re).is_some_and(|r| r.is_match(t)))
    .map(|(_, c)| c)
}

/// Whether a line is a letter's closing ("Thanks,", "Kind regards", "Mit freundlichen
/// Grüßen"), which ends whatever block is above it.
fn is_closing(line: &str) -> bool {
    const CLOSINGS: &[&str] = &[
        "thanks",
        "thank you",
        "many thanks",
        "regards",
        "kind regards",
        "best regards",
        "best",
        "cheers",
        "sincerely",
        "yours sincerely",
        "yours faithfully",
        "mit freundlichen grüßen",
        "freundliche grüße",
        "viele grüße",
        "beste grüße",
        "gruß",
        "grüße",
        "cordialement",
        "bien cordialement",
        "salutations",
        "merci",
        "saludos",
        "un saludo",
        "atentamente",
        "gracias",
        "met vriendelijke groet",
        "groet",
        "groeten",
        "cordiali saluti",
        "saluti",
        "grazie",
        "atenciosamente",
        "cumprimentos",
        "obrigado",
        "obrigada",
        "abraços",
        "よろしくお願いいたします",
        "以上",
        "谢谢",
        "謝謝",
        "此致",
    ];
    let t = line
        .trim()
        .trim_end_matches(['.', ',', '!', '。', '！', '，'])
        .to_lowercase();
    t.chars().count() <= 30 && CLOSINGS.contains(&t.as_str())
}

/// A city line read by one country's convention.
struct CityLine {
    city: Option<String>,
    region: Option<String>,
    postal: Option<String>,
    /// The country the postcode's form implies by itself (`1234 AB` is Dutch), if any.
    implies: Option<&'static str>,
    /// Countries whose postcodes have this form, for the sender's country to confirm.
    fits: &'static [&'static str],
}

re!(CITY_DASH_STATE, r"^(.+?)\s*[-–/]\s*([A-Z]{2})$");
re!(NL_CITY, r"^([0-9]{4}\s?[A-Z]{2})\s+(.+)$");
re!(PT_CITY, r"^([0-9]{4}-[0-9]{3})\s+(.+)$");
re!(
    BR_CITY,
    r"^([0-9]{5}-[0-9]{3})\s+(.+?)(?:\s*[-/–]\s*([A-Z]{2}))?$"
);
re!(PL_CITY, r"^([0-9]{2}-[0-9]{3})\s+(.+)$");
// "114 55 Stockholm", "602 00 Brno": the three-and-two-digit postcode of Sweden, Czechia,
// Slovakia and Greece (which of them, the line alone does not say).
re!(SE_CZ_CITY, r"^([0-9]{3} [0-9]{2})\s+([^0-9].*)$");
re!(
    JP_CITY,
    r"^(.+?),?\s+([A-Za-z-]+)\s+(〒?[0-9]{3}-[0-9]{4})$"
);
re!(
    AU_CITY,
    r"^(.+?),?\s+(NSW|VIC|QLD|WA|SA|TAS|ACT|NT)\s+([0-9]{4})$"
);
re!(
    POSTAL_FIRST,
    r"^(?:[A-Z]{1,2}-)?([0-9]{4,7})\s+([^0-9,()]+?)(?:\s*\((?:([A-Z]{2})|([^0-9()]{3,30}))\))?(?:\s*,\s*([^0-9,]+))?$"
);

/// Reads the line of an address that holds the city, by the conventions of the countries
/// that write it that way.
fn city_line(last: &str) -> Option<CityLine> {
    // A postcode's own label before it: "C.P. 28013 Madrid", "CAP 20121 Milano", "PLZ …".
    let last = ["c.p.", "c.p", "cp", "cap", "cep", "plz", "postcode", "zip"]
        .iter()
        .find_map(|p| {
            let head = last.get(..p.len())?;
            let rest = last.get(p.len()..)?;
            (head.eq_ignore_ascii_case(p) && rest.starts_with([' ', ':']))
                .then(|| rest.trim_start_matches([' ', ':']))
                .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .unwrap_or(last);
    let cap = |re: &LazyLock<Pattern>| rx(re).and_then(|r| r.captures(last));
    let s =
        |m: Option<regex::Match>| m.map(|m| m.as_str().trim().trim_end_matches(',').to_string());
    let line = |city, region, postal, implies, fits| CityLine {
        city,
        region,
        postal,
        implies,
        fits,
    };
    // Countries whose city line implies them: the pattern, and the groups of city, region
    // (0: none) and postcode.
    // "C1425BHF Ciudad Autónoma de Buenos Aires": the Argentine CPA (a province letter, four
    // digits, three letters) is no other country's form.
    re!(
        AR_CITY,
        r"^([A-Z][0-9]{4}[A-Z]{3})\s+([^0-9,]+?)(?:\s*,\s*([^0-9,]+))?$"
    );
    let implied: [(&LazyLock<Pattern>, usize, usize, usize, &'static str); 11] = [
        (&AR_CITY, 2, 3, 1, "AR"),
        (&US_CITY, 1, 2, 3, "US"),
        (&CA_CITY, 1, 2, 3, "CA"),
        // "Montréal (Québec) H2X 3K2", "Halifax, Nova Scotia B3H 1A1".
        (&CA_CITY_PROVINCE, 1, 2, 3, "CA"),
        (&AU_CITY, 1, 2, 3, "AU"),
        (&JP_CITY, 1, 2, 3, "JP"),
        (&NL_CITY, 2, 0, 1, "NL"),
        (&PT_CITY, 2, 0, 1, "PT"),
        (&BR_CITY, 2, 3, 1, "BR"),
        (&PL_CITY, 2, 0, 1, "PL"),
        (&UK_CITY, 1, 0, 2, "GB"),
    ];
    for (re, city, region, postal, country) in implied {
        if let Some(m) = cap(re) {
            let region = (region > 0).then(|| s(m.get(region))).flatten();
            return Some(line(
                s(m.get(city)),
                region,
                s(m.get(postal)),
                Some(country),
                &[],
            ));
        }
    }
    if let Some(m) = cap(&IE_CITY) {
        let postal = Some(format!("{} {}", &m[2], &m[3]));
        return Some(line(s(m.get(1)), None, postal, Some("IE"), &[]));
    }
    // "Marsaxlokk MXK 1283", "Valletta VLT 1117": Malta's postcode (three capitals, four
    // digits) after the town is no other country's form.
    re!(MT_CITY, r"^(\p{L}[^0-9,]*?),?\s+([A-Z]{3}\s?[0-9]{4})$");
    if let Some(m) = cap(&MT_CITY) {
        return Some(line(s(m.get(1)), None, s(m.get(2)), Some("MT"), &[]));
    }
    if let Some(m) = cap(&SE_CZ_CITY) {
        return Some(line(
            s(m.get(2)),
            None,
            s(m.get(1)),
            None,
            &["SE", "CZ", "SK", "GR"],
        ));
    }
    if let Some(m) = cap(&POSTAL_FIRST) {
        let postal = s(m.get(1));
        let fits = postal_fits(postal.as_deref());
        let mut city = s(m.get(2));
        // "(TO)": an Italian province's code; "(Valencia)": a Spanish province's name.
        let mut region = s(m.get(3))
            .or(s(m.get(4)))
            .or(s(m.get(5)))
            .map(|r| region_name(&r));
        // "34710 Kadıköy/İstanbul": a Turkish district (ilçe, the city line's city) and its
        // province (il) joined by a slash.
        if let Some((c, r)) = city.as_deref().and_then(|c| c.split_once('/')) {
            let word = |w: &str| !w.trim().is_empty() && !w.contains(char::is_whitespace);
            if region.is_none() && word(c) && word(r) {
                region = Some(r.trim().to_string());
                city = Some(c.trim().to_string());
            }
        }
        // "00184 Roma RM": an Italian province code after the city.
        if let Some((c, r)) = city.as_deref().and_then(|c| c.rsplit_once(' ')) {
            if region.is_none() && r.len() == 2 && r.chars().all(|c| c.is_ascii_uppercase()) {
                region = Some(r.to_string());
                city = Some(c.trim().to_string());
            }
        }
        // "10122 Torino (TO)": a five-digit CAP and the province in brackets is Italian.
        let italian = m.get(3).is_some() && postal.as_ref().is_some_and(|p| p.len() == 5);
        // "LT-03154 Vilnius", "CH-8001 Zürich", "D-80331 München": the country's code
        // written before the postcode names the country.
        let prefixed = last
            .split_once('-')
            .and_then(|(code, _)| postal_prefix_country(code));
        let implies = prefixed.or(italian.then_some("IT"));
        return Some(line(city, region, postal, implies, fits));
    }
    // "107 Reykjavík": a three-digit postcode before a one-word town (Iceland, the Faroes);
    // a street ("221 Baker Street") has more words.
    re!(THREE_DIGIT_CITY, r"^([0-9]{3})\s+([^\s0-9,()]{3,})$");
    if let Some(m) = cap(&THREE_DIGIT_CITY) {
        return Some(line(s(m.get(2)), None, s(m.get(1)), None, &["IS", "FO"]));
    }
    // "Rīga, LV-1010": the postcode after the city with its country's code before it, which
    // names the country (Latvia writes the code as a part of the postcode).
    re!(
        CITY_PREFIXED_POSTAL,
        r"^([^0-9,]+?),?\s+([A-Z]{1,2})-([0-9]{4,5})$"
    );
    if let Some(m) = cap(&CITY_PREFIXED_POSTAL) {
        if let Some(country) = postal_prefix_country(&m[2]) {
            let postal = match country {
                "LV" => format!("{}-{}", &m[2], &m[3]),
                _ => m[3].to_string(),
            };
            return Some(line(s(m.get(1)), None, Some(postal), Some(country), &[]));
        }
    }
    // "Bengaluru - 560034, Karnataka", "Chennai – 600 017": India's city, its six-digit PIN
    // after a dash, then the state.
    re!(
        CITY_DASH_PIN,
        r"^([^0-9,]+?)\s+[-–]\s+([0-9]{6}|[0-9]{3}\s[0-9]{3})(?:\s*,\s*([^0-9,]+?))?\.?$"
    );
    if let Some(m) = cap(&CITY_DASH_PIN) {
        return Some(line(s(m.get(1)), s(m.get(3)), s(m.get(2)), None, &["IN"]));
    }
    if let Some(m) = cap(&CITY_POSTAL) {
        let postal = s(m.get(2));
        let fits: &'static [&'static str] = match postal.as_ref().map_or(0, String::len) {
            4 => &["AU", "NZ", "AT", "BE", "CH", "DK", "NO", "PH", "ZA"],
            5 => &["DE", "FR", "ES", "IT", "US", "MX", "TH", "PE", "MY"],
            6 => &["CN", "IN", "SG", "VN", "CO"],
            7 => &["IL", "CL"],
            _ => &[],
        };
        // "Medellín, Antioquia 050021", "जयपुर, राजस्थान 302022": the city, then its
        // region (a department, state or province) before the postcode.
        let (city, region) = match s(m.get(1)).as_deref().and_then(|c| c.split_once(", ")) {
            Some((c, r))
                if digits(c) == 0
                    && digits(r) == 0
                    && !c.trim().is_empty()
                    && (1..=3).contains(&r.split_whitespace().count()) =>
            {
                (Some(c.trim().to_string()), Some(r.trim().to_string()))
            }
            // "Bengaluru Karnataka 560058" (Zoho Books): a state known by name after the
            // city, with no comma between, before an Indian PIN.
            _ => {
                let whole = s(m.get(1));
                let split = whole
                    .as_deref()
                    .filter(|_| fits.contains(&"IN"))
                    .and_then(|c| {
                        let words: Vec<&str> = c.split_whitespace().collect();
                        (1..=2).rev().find_map(|k| {
                            let at = words.len().checked_sub(k).filter(|&at| at > 0)?;
                            let region = words[at..].join(" ");
                            KNOWN_REGIONS
                                .contains(&region.to_lowercase().as_str())
                                .then(|| (words[..at].join(" "), region))
                        })
                    });
                match split {
                    Some((c, r)) => (Some(c), Some(r)),
                    None => (whole, None),
                }
            }
        };
        return Some(line(city, region, postal, None, fits));
    }
    None
}

/// The countries whose postcodes are numbers of this many digits.
/// A Thai or Vietnamese address ends with the district on its own line and the province with
/// the postcode (`เขตวัฒนา` / `กรุงเทพฯ 10110`, `Quận Hải Châu` / `Đà Nẵng 550000`): the
/// district is the city, the province the region. A line above the city line that a district
/// word starts (`เขต`, `อำเภอ`, `Quận`, `Huyện`) is taken so, when no region was read.
fn district_city(facts: &mut Facts) {
    const DISTRICT: &[&str] = &["เขต", "อำเภอ", "อ.", "Quận ", "Huyện ", "Thị xã "];
    let value = |facts: &Facts, k: &str| facts.get(k).map(|f| f.value.clone());
    let Some(district) = value(facts, "ship_to.line2") else {
        return;
    };
    if facts.contains_key("ship_to.region") || !DISTRICT.iter().any(|d| district.starts_with(d)) {
        return;
    }
    let Some(city) = facts.remove("ship_to.city") else {
        return;
    };
    let confidence = city.confidence;
    facts.insert("ship_to.region".into(), city);
    facts.remove("ship_to.line2");
    facts.insert(
        "ship_to.city".into(),
        Fact {
            value: district,
            confidence,
        },
    );
}

/// The country a code before a postcode names (`LT-03154`, `D-80331`): the European
/// countries' ISO codes, and the old vehicle codes still written (`D`, `F`, `A`, `I`, `B`, `L`).
fn postal_prefix_country(code: &str) -> Option<&'static str> {
    const ISO: &[&str] = &[
        "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI",
        "SK",
    ];
    Some(match code {
        "D" => "DE",
        "F" => "FR",
        "A" => "AT",
        "I" => "IT",
        "B" => "BE",
        "L" => "LU",
        c => ISO.iter().find(|i| **i == c)?,
    })
}

fn postal_fits(postal: Option<&str>) -> &'static [&'static str] {
    match postal.map_or(0, str::len) {
        5 => &[
            "DE", "FR", "ES", "IT", "MX", "FI", "US", "TR", "EE", "MY", "ID", "UA", "HR", "SA",
            "RS", "PE",
        ],
        // Romania, India, China, Singapore, Russia, Kazakhstan, Belarus, Vietnam, Colombia.
        6 => &["RO", "IN", "CN", "SG", "RU", "KZ", "BY", "VN", "CO"],
        7 => &["CL", "IL"],
        _ => &[
            "AT", "BE", "CH", "DK", "NO", "LU", "HU", "AU", "NZ", "SI", "BG", "ZA",
        ],
    }
}

/// A city as it is named, without the word for a city some countries write before it
/// (Ukrainian `м. Київ`, Russian `г. Москва`).
fn city_name(city: &str) -> String {
    let c = city.trim();
    ["м. ", "г. ", "м.", "г."]
        .iter()
        .find_map(|w| c.strip_prefix(w))
        .unwrap_or(c)
        .trim()
        .to_string()
}

/// The country of a city whose country has no postcodes, so that an address there ends
/// with the city alone: the emirates of the UAE, and Hong Kong and Macau.
fn postcodeless_city(city: &str) -> Option<&'static str> {
    Some(
        match city.trim().trim_end_matches('.').to_lowercase().as_str() {
            "dubai" | "abu dhabi" | "sharjah" | "ajman" | "umm al quwain" | "ras al khaimah"
            | "fujairah" | "al ain" => "AE",
            "hong kong" => "HK",
            "macau" | "macao" => "MO",
            _ => return None,
        },
    )
}

/// A region as it is named, without the word for its kind that some countries write before
/// it: the Romanian county ("jud. Cluj", "județul Cluj" → "Cluj").
fn region_name(region: &str) -> String {
    let r = region.trim();
    for word in ["jud.", "jud ", "județul ", "judetul ", "judeţul "] {
        if let Some(rest) = r
            .get(..word.len())
            .filter(|h| h.eq_ignore_ascii_case(word))
            .and_then(|_| r.get(word.len()..))
        {
            let rest = rest.trim();
            if !rest.is_empty() {
                return rest.to_string();
            }
        }
    }
    r.to_string()
}

/// "1061 Budapest, Király utca 26.": a city line with its postcode first, then after a comma
/// the street with its house number, on one line (the Hungarian way); split as the street
/// line and the city line.
fn city_then_street(line: &str) -> Option<(String, String)> {
    let (head, tail) = line.split_once(',')?;
    let (head, tail) = (head.trim(), tail.trim());
    let city_first = head.starts_with(|c: char| c.is_ascii_digit())
        && city_line(head).is_some_and(|c| c.postal.is_some() && c.city.is_some());
    let street = digits(tail) > 0
        && tail.chars().any(char::is_alphabetic)
        && city_line(tail).is_none()
        && postcode_alone(tail).is_none();
    (city_first && street).then(|| (tail.to_string(), head.to_string()))
}

/// An address block's lines as address: a line labelled as the address itself ("주소:
/// (27359) 충청북도 …", "Địa chỉ: …") without its label, and a line labelled as another
/// field (a delivery date, "납품 희망일: 2월 24일") left out.
fn address_fields(lines: Vec<String>) -> Vec<String> {
    const ADDRESS: &[&str] = &[
        "address",
        "addr",
        "adresse",
        "adres",
        "adresa",
        "dirección",
        "direccion",
        "indirizzo",
        "endereço",
        "osoite",
        "διεύθυνση",
        "адреса",
        "адрес",
        "주소",
        "住所",
        "地址",
        "địa chỉ",
        "alamat",
        "ที่อยู่",
        "כתובת",
        "العنوان",
    ];
    const OTHER: &[&str] = &[
        "납품 희망일",
        "납품일",
        "배송 희망일",
        "희망 납품일",
        "ngày giao hàng",
        "ngày giao",
        "delivery date",
        "deliver by",
        "liefertermin",
        "lieferdatum",
    ];
    lines
        .into_iter()
        .filter_map(|l| {
            let Some((head, value)) = l.split_once([':', '：']) else {
                return Some(l);
            };
            let head = norm_label(head);
            if OTHER.contains(&head.as_str())
                || builtin_labels("delivery_date").contains(&head.as_str())
            {
                None
            } else if ADDRESS.contains(&head.as_str()) && !value.trim().is_empty() {
                Some(value.trim().to_string())
            } else {
                Some(l)
            }
        })
        .collect()
}

/// Parses an address written as lines: name, street line(s), city / region / postal code,
/// optionally a country; sets `ship_to.*` facts. The country is the one written, else the one
/// the postcode's form implies (a Dutch `1234 AB`, a US state and ZIP), else the sender's
/// country when the postcode has its form, else the template's; otherwise it stays unknown.
fn address_block(facts: &mut Facts, ctx: &Ctx, mut lines: Vec<String>, confidence: f64) {
    // Contact lines in the block (a phone, an e-mail) are not part of the address, nor is a
    // company's registration or tax number written on its own line ("CVR 40551287").
    lines.retain(|l| {
        !l.trim().is_empty() && !is_contact_line(l.trim()) && !registration_line(l.trim())
    });
    // A sub-heading over the block ("DELIVERY DETAILS", then "Delivery Address" over the
    // name): a delivery label is no name.
    if lines.len() > 2 && {
        let head = norm_label(lines[0].trim().trim_end_matches([':', '：']).trim());
        ctx.labels("ship_to").iter().any(|l| *l == head)
    } {
        lines.remove(0);
    }
    let mut lines = address_fields(lines);
    // A note under the address ("Märk godset: Projekt 2611, kontakt på plats Mikael"): a
    // labelled line below the postcode and city ends the address.
    let city_at = lines
        .iter()
        .skip(1)
        .position(|l| city_line(l.trim()).is_some_and(|c| c.postal.is_some()))
        .map(|k| k + 1);
    if let Some(city_at) = city_at {
        let note = lines[city_at + 1..].iter().position(|l| {
            l.split_once([':', '：']).is_some_and(|(head, value)| {
                !value.trim().is_empty()
                    && digits(head) == 0
                    && (1..=3).contains(&head.split_whitespace().count())
                    && country_of(value.trim()).is_none()
            })
        });
        if let Some(k) = note {
            lines.truncate(city_at + 1 + k);
        }
        // Times of day below the postcode and city ("Warenannahme Mo–Fr 6:00–14:00 Uhr, Tor 3",
        // "Receiving 7am-3pm", "réception 6 h – 11 h", "ricevimento merci 8.00–12.00"): the
        // hours the place takes goods, a note, not a line of the address.
        re!(
            CLOCK,
            r"(?i)(?:^|[^0-9])(?:[0-9]{1,2}[:.][0-9]{2}\s*(?:[-–—]|bis|to|till|until|tot|à|alle)\s*[0-9]{1,2}[:.][0-9]{2}|[0-9]{1,2}(?:[:.][0-9]{2})?\s*(?:uhr|uur|am|pm)\b|[0-9]{1,2}\s?h(?:\s?[0-9]{2})?\s*(?:[-–—]|à)\s*[0-9]{1,2}\s?h\b)"
        );
        let hours = lines[city_at + 1..]
            .iter()
            .position(|l| rx(&CLOCK).is_some_and(|r| r.is_match(l)));
        if let Some(k) = hours {
            lines.truncate(city_at + 1 + k);
        }
    }
    // A sentence under the postcode ("Recebimento com a Dona Cida, WhatsApp da loja (31)
    // 9 8555-2207."): a note about the delivery, and the end of the address.
    let postcode_at = lines.iter().skip(1).position(|l| {
        let l = l.trim();
        city_line(l).is_some_and(|c| c.postal.is_some()) || postcode_alone(l).is_some()
    });
    if let Some(at) = postcode_at.map(|k| k + 1) {
        let sentence = lines[at + 1..].iter().position(|l| {
            let l = l.trim();
            l.ends_with(['.', '!']) && l.split_whitespace().count() >= 4
        });
        if let Some(k) = sentence {
            lines.truncate(at + 1 + k);
        }
    }
    if lines.is_empty() {
        return;
    }
    if lines.iter().any(|l| has_cjk(l)) && east_asian_block(facts, ctx, &lines, confidence) {
        return;
    }
    if let Some((at, (postal, region, city, street))) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| korean_address(l).map(|a| (i, a)))
    {
        // The recipient is written before the address (or after it).
        let name = lines
            .iter()
            .enumerate()
            .find(|(i, _)| *i != at)
            .map(|(_, l)| l.trim().to_string());
        ctx.put(facts, "ship_to.name", name, confidence);
        ctx.put(facts, "ship_to.line1", Some(street), confidence);
        ctx.put(facts, "ship_to.city", Some(city), confidence);
        ctx.put(facts, "ship_to.region", region, confidence);
        ctx.put(facts, "ship_to.postal_code", postal, confidence);
        ctx.put(facts, "ship_to.country", Some("KR".into()), confidence);
        return;
    }
    let c = confidence;
    let mut country: Option<String> = None;
    let mut country_conf = c * 0.95;
    let mut postal: Option<String> = None;
    let mut region: Option<String> = None;
    let mut region_conf = c;
    let mut city: Option<String> = None;
    if lines.len() > 1 {
        if let Some(code) = lines.last().and_then(|l| country_of(l)) {
            country = Some(code.into());
            country_conf = c;
            lines.pop();
        } else if let Some((head, code)) = lines.last().and_then(|l| {
            // "Dubai, United Arab Emirates", "1061 Budapest, Hungary": the country after the
            // city line's comma.
            let (head, tail) = l.rsplit_once(',')?;
            let head = head.trim();
            (!head.is_empty() && digits(tail) == 0)
                .then(|| country_of(tail))
                .flatten()
                .map(|code| (head.to_string(), code))
        }) {
            country = Some(code.into());
            country_conf = c;
            lines.pop();
            lines.push(head);
        }
    }
    // "Beaufort West" / "6970" / "Western Cape" above the country: a province written on its
    // own line below the postcode (South Africa's convention, and others'), a line without
    // digits between a postcode alone and the country line that was read.
    if country.is_some() && lines.len() > 3 {
        let n = lines.len();
        let below_postcode = postcode_alone(&lines[n - 2]).is_some_and(|c| c.is_none())
            && digits(&lines[n - 1]) == 0
            && digits(&lines[n - 3]) == 0
            && lines[n - 1].split_whitespace().count() <= 3;
        if below_postcode {
            region = lines.pop().map(|l| l.trim().to_string());
        }
    }
    if lines.len() >= 2 {
        if let Some((street, city)) = lines.last().and_then(|l| city_then_street(l)) {
            lines.pop();
            lines.push(street);
            lines.push(city);
        }
    }
    if lines.len() > 2 {
        let last = lines.last().cloned().unwrap_or_default();
        let last = last.trim();
        let uk = rx(&UK_POSTCODE).is_some_and(|r| r.is_match(&last.to_uppercase()));
        let us = rx(&US_ZIP).is_some_and(|r| r.is_match(last));
        let ie = rx(&EIRCODE).is_some_and(|r| r.is_match(&last.to_uppercase()));
        if uk || us || ie {
            postal = Some(last.to_string());
            if country.is_none() && (uk || ie) {
                country = Some(if uk { "GB" } else { "IE" }.into());
            }
            lines.pop();
        } else if let Some(implied) = postcode_alone(last) {
            // A postcode on its own line below the city ("São Paulo - SP" / "CEP
            // 01304-001"), maybe with its label.
            postal = Some(
                postcode_unlabelled(last)
                    .trim_start_matches('〒')
                    .to_string(),
            );
            if country.is_none() {
                country = implied.map(String::from);
            }
            lines.pop();
        }
    }
    // A region on its own line below a city line with its postcode ("7500000 Providencia" /
    // "Región Metropolitana").
    if lines.len() > 3 && postal.is_none() && region.is_none() {
        let below_city = lines
            .get(lines.len() - 2)
            .and_then(|l| city_line(l.trim()))
            .is_some_and(|cl| cl.postal.is_some());
        if below_city && lines.last().is_some_and(|l| digits(l) == 0) {
            region = lines.pop().map(|l| l.trim().to_string());
            // Below "postcode city" most countries write the country, in whatever language
            // ("Ελλάδα"): when no country line was read below it, a line not known as a
            // country is a region only when it says so ("Región Metropolitana", "Provincia
            // di …") or is a known one; otherwise it is kept in doubt, and the order waits
            // for a person.
            if country.is_none() && !region.as_deref().is_some_and(says_region) {
                region_conf = c * 0.6;
            }
        }
    }
    let mut fits: &[&str] = &[];
    if lines.len() > 2 || (lines.len() == 2 && postal.is_some()) {
        let last = lines.pop().unwrap_or_default();
        let last = last.trim().to_string();
        if let Some(cl) = city_line(&last) {
            city = cl.city;
            region = cl.region.or(region);
            postal = cl.postal.or(postal);
            if country.is_none() {
                country = cl.implies.map(String::from);
            }
            fits = cl.fits;
            // "Jakarta Selatan" / "DKI Jakarta 12730": a province with the postcode, the city
            // on the line above it.
            if region.is_none()
                && lines.len() > 2
                && city.as_deref().is_some_and(is_province)
                && lines.last().is_some_and(|l| digits(l) == 0)
            {
                region = city.take();
                city = lines.pop().map(|l| l.trim().to_string());
            }
        } else if let Some((a, b)) = last.split_once(',') {
            city = Some(a.trim().into());
            region = Some(b.trim().into());
        } else if let Some(m) = postal
            .is_some()
            .then(|| rx(&CITY_DASH_STATE)?.captures(&last))
            .flatten()
        {
            // "São Paulo - SP", "Curitiba/PR": the city, then its state's code.
            city = Some(m[1].trim().into());
            region = Some(m[2].into());
        } else if is_county(&last) && lines.len() > 2 {
            // "Hebden Bridge" / "West Yorkshire" / "HX7 8AD": the county, then the town.
            region = Some(last);
            city = lines.pop();
        } else {
            // A city alone, its postcode alone on the line below ("м. Київ" / "03150").
            if postal
                .as_deref()
                .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
            {
                fits = postal_fits(postal.as_deref());
            }
            city = Some(city_name(&last));
        }
    }
    let name = if lines.len() > 1 {
        Some(lines.remove(0))
    } else {
        None
    };
    let line1 = if lines.is_empty() {
        None
    } else {
        Some(lines.remove(0))
    };
    let line2 = if lines.is_empty() {
        None
    } else {
        Some(lines.join(", "))
    };
    if country.is_none() {
        // Only a postcode of the sender's country's form lets the sender's country stand in;
        // the document written in that country's language confirms it.
        if let Some(sender) = ctx.sender_country.as_deref().filter(|s| fits.contains(s)) {
            country = Some(sender.to_string());
            country_conf = if ctx.language_country == Some(sender) {
                c * 0.95
            } else {
                c * 0.85
            };
        }
    }
    if country.is_none() {
        // A French, German, Italian, Dutch or Slovenian document and a postcode of that
        // country's form.
        if let Some(lang) = ctx.language_country.filter(|l| fits.contains(l)) {
            country = Some(lang.to_string());
            country_conf = c * 0.85;
        }
    }
    if country.is_none() {
        // A Dutch document and a postcode of four digits without the Dutch letters: Flanders,
        // unless the sender is Dutch (who may have left the letters out); sure only with a
        // Belgian VAT number in the document, else a guess a person confirms.
        if ctx.language_country == Some("NL")
            && fits.contains(&"BE")
            && ctx.sender_country.as_deref().is_none_or(|s| s == "BE")
        {
            country = Some("BE".to_string());
            country_conf = if ctx.vat_country == Some("BE") {
                c * 0.85
            } else {
                c * 0.65
            };
        }
    }
    if country.is_none() && postal.is_none() {
        // A city of a country without postcodes that is named nowhere else ("Dubai").
        if let Some(code) = city.as_deref().and_then(postcodeless_city) {
            country = Some(code.into());
            country_conf = c * 0.95;
        }
    }
    if country.is_none() && postal.is_none() && city.is_some() {
        // No postcode (a building site named by its village): the sender's country where the
        // message is written in its language or gives a VAT number of it, a guess a person
        // confirms.
        if let Some(sender) = ctx
            .sender_country
            .as_deref()
            .filter(|s| ctx.language_country == Some(*s) || ctx.vat_country == Some(*s))
        {
            country = Some(sender.to_string());
            country_conf = c * 0.6;
        }
    }
    if country.is_none() {
        country = ctx.template.and_then(|t| t.country.clone());
    }
    ctx.put(facts, "ship_to.name", name, c);
    ctx.put(facts, "ship_to.line1", line1, c);
    ctx.put(facts, "ship_to.line2", line2, c);
    ctx.put(facts, "ship_to.city", city, c);
    ctx.put(facts, "ship_to.region", region, region_conf);
    ctx.put(facts, "ship_to.postal_code", postal, c);
    ctx.put(facts, "ship_to.country", country, country_conf);
}

/// First-level regions of countries whose addresses write them on a line of their own below
/// the city line (India, Malaysia, the Philippines, Mexico, Brazil, Spain's provinces), by
/// name, lowercase; Indonesia's are [`is_province`], the UK's and Ireland's [`is_county`].
const KNOWN_REGIONS: &[&str] = &[
    // India: states and union territories.
    "andhra pradesh",
    "arunachal pradesh",
    "assam",
    "bihar",
    "chhattisgarh",
    "goa",
    "gujarat",
    "haryana",
    "himachal pradesh",
    "jharkhand",
    "karnataka",
    "kerala",
    "madhya pradesh",
    "maharashtra",
    "manipur",
    "meghalaya",
    "mizoram",
    "nagaland",
    "odisha",
    "punjab",
    "rajasthan",
    "sikkim",
    "tamil nadu",
    "telangana",
    "tripura",
    "uttar pradesh",
    "uttarakhand",
    "west bengal",
    "delhi",
    "new delhi",
    "nct of delhi",
    "jammu and kashmir",
    "ladakh",
    "puducherry",
    "chandigarh",
    "lakshadweep",
    "andaman and nicobar islands",
    "dadra and nagar haveli and daman and diu",
    // Malaysia.
    "johor",
    "kedah",
    "kelantan",
    "melaka",
    "malacca",
    "negeri sembilan",
    "pahang",
    "perak",
    "perlis",
    "pulau pinang",
    "penang",
    "sabah",
    "sarawak",
    "selangor",
    "terengganu",
    "kuala lumpur",
    "wilayah persekutuan kuala lumpur",
    "labuan",
    "putrajaya",
    // The Philippines.
    "metro manila",
    "national capital region",
    "ncr",
    "cordillera administrative region",
    "ilocos region",
    "cagayan valley",
    "central luzon",
    "calabarzon",
    "mimaropa",
    "bicol region",
    "western visayas",
    "central visayas",
    "eastern visayas",
    "zamboanga peninsula",
    "northern mindanao",
    "davao region",
    "soccsksargen",
    "caraga",
    "bangsamoro",
    "cebu",
    "laguna",
    "cavite",
    "bulacan",
    "rizal",
    "pampanga",
    "batangas",
    // Mexico.
    "aguascalientes",
    "baja california",
    "baja california sur",
    "campeche",
    "chiapas",
    "chihuahua",
    "ciudad de méxico",
    "cdmx",
    "coahuila",
    "colima",
    "durango",
    "guanajuato",
    "guerrero",
    "hidalgo",
    "jalisco",
    "estado de méxico",
    "michoacán",
    "morelos",
    "nayarit",
    "nuevo león",
    "oaxaca",
    "puebla",
    "querétaro",
    "quintana roo",
    "san luis potosí",
    "sinaloa",
    "sonora",
    "tabasco",
    "tamaulipas",
    "tlaxcala",
    "veracruz",
    "yucatán",
    "zacatecas",
    // Brazil.
    "acre",
    "alagoas",
    "amapá",
    "amazonas",
    "bahia",
    "ceará",
    "distrito federal",
    "espírito santo",
    "goiás",
    "maranhão",
    "mato grosso",
    "mato grosso do sul",
    "minas gerais",
    "pará",
    "paraíba",
    "paraná",
    "pernambuco",
    "piauí",
    "rio de janeiro",
    "rio grande do norte",
    "rio grande do sul",
    "rondônia",
    "roraima",
    "santa catarina",
    "são paulo",
    "sergipe",
    "tocantins",
    // Spain: provinces.
    "a coruña",
    "álava",
    "albacete",
    "alicante",
    "almería",
    "asturias",
    "ávila",
    "badajoz",
    "baleares",
    "illes balears",
    "barcelona",
    "burgos",
    "cáceres",
    "cádiz",
    "cantabria",
    "castellón",
    "ciudad real",
    "córdoba",
    "cuenca",
    "girona",
    "granada",
    "guadalajara",
    "gipuzkoa",
    "huelva",
    "huesca",
    "jaén",
    "la rioja",
    "las palmas",
    "león",
    "lleida",
    "lugo",
    "madrid",
    "málaga",
    "murcia",
    "navarra",
    "ourense",
    "palencia",
    "pontevedra",
    "salamanca",
    "santa cruz de tenerife",
    "segovia",
    "sevilla",
    "soria",
    "tarragona",
    "teruel",
    "toledo",
    "valencia",
    "valladolid",
    "bizkaia",
    "vizcaya",
    "zamora",
    "zaragoza",
];

/// Whether a line names a region as one: a word for a region's kind in it ("Región
/// Metropolitana", "Provincia di Torino", "Île-de-France Region", "Oblast"), a name ending in
/// one (`广东省`, `大阪府`), or a region known by name ([`KNOWN_REGIONS`], provinces,
/// counties).
fn says_region(line: &str) -> bool {
    const KINDS: &[&str] = &[
        "region",
        "región",
        "regione",
        "região",
        "régió",
        "province",
        "provincia",
        "provincie",
        "provinz",
        "província",
        "state",
        "estado",
        "stato",
        "county",
        "comté",
        "département",
        "departamento",
        "dipartimento",
        "prefecture",
        "préfecture",
        "canton",
        "kanton",
        "cantón",
        "oblast",
        "област",
        "область",
        "kraj",
        "województwo",
        "voivodeship",
        "megye",
        "județ",
        "judet",
        "jud",
        "bundesland",
        "comunidad",
        "comunitat",
        "territory",
        "territorio",
        "distrito",
        "district",
        "governorate",
    ];
    const ENDINGS: &[char] = &['省', '县', '縣', '県', '府', '道', '州'];
    let l = line.trim().to_lowercase();
    is_county(line)
        || is_province(line)
        || KNOWN_REGIONS.contains(&l.as_str())
        || l.ends_with(ENDINGS)
        || l.split(|c: char| !c.is_alphanumeric())
            .any(|w| KINDS.contains(&w))
}

/// A value with a phone number after it (`张三 13800138000`, `Anna Berg, +46 8 555 01 22`):
/// the value before the number, and the number.
fn split_trailing_phone(value: &str) -> (String, Option<String>) {
    let v = value.trim();
    let Some(m) = rx(&PHONE).and_then(|r| r.find_iter(v).last()) else {
        return (v.to_string(), None);
    };
    let tail = v[m.end()..].trim();
    if !(7..=15).contains(&digits(m.as_str())) || !tail.is_empty() || m.start() == 0 {
        return (v.to_string(), None);
    }
    let head = v[..m.start()]
        .trim()
        .trim_end_matches([',', ';', '/', '，'])
        .trim();
    // A label between ("张三 电话：138…", "Anna, Tel. +46 …") goes with the number.
    let head = head
        .rsplit_once([' ', ','])
        .filter(|(_, label)| {
            let l = norm_label(label.trim_end_matches(['.', ':', '：']));
            builtin_labels("phone").iter().any(|p| norm_label(p) == l)
        })
        .map_or(head, |(h, _)| h.trim());
    let head = head
        .split_once(['：', ':'])
        .filter(|(before, _)| {
            let l = norm_label(before.rsplit(' ').next().unwrap_or(before));
            builtin_labels("phone").iter().any(|p| norm_label(p) == l)
        })
        .map_or(head, |(h, _)| h.trim());
    (head.to_string(), Some(m.as_str().trim().to_string()))
}

/// An Indonesian province (or its usual short form), which an address writes with the
/// postcode below the city.
fn is_province(name: &str) -> bool {
    let n = name.trim().to_lowercase();
    let n = n.strip_prefix("provinsi ").unwrap_or(&n);
    [
        "aceh",
        "sumatera utara",
        "sumatera barat",
        "sumatera selatan",
        "riau",
        "kepulauan riau",
        "jambi",
        "bengkulu",
        "lampung",
        "kepulauan bangka belitung",
        "bangka belitung",
        "dki jakarta",
        "jawa barat",
        "jawa tengah",
        "jawa timur",
        "di yogyakarta",
        "diy",
        "banten",
        "bali",
        "nusa tenggara barat",
        "nusa tenggara timur",
        "ntb",
        "ntt",
        "kalimantan barat",
        "kalimantan tengah",
        "kalimantan selatan",
        "kalimantan timur",
        "kalimantan utara",
        "sulawesi utara",
        "sulawesi tengah",
        "sulawesi selatan",
        "sulawesi tenggara",
        "sulawesi barat",
        "gorontalo",
        "maluku",
        "maluku utara",
        "papua",
        "papua barat",
        "jabar",
        "jateng",
        "jatim",
    ]
    .contains(&n)
}

/// A British or Irish county written as its own address line.
fn is_county(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    l.ends_with("shire")
        || l.starts_with("county ")
        || l.starts_with("co. ")
        || [
            "west midlands",
            "greater london",
            "greater manchester",
            "merseyside",
            "kent",
            "surrey",
            "essex",
            "devon",
            "cornwall",
            "norfolk",
            "suffolk",
            "east sussex",
            "west sussex",
            "tyne and wear",
            "cumbria",
            "somerset",
            "north somerset",
            "bath and north east somerset",
            "isle of wight",
            "rutland",
            "northumberland",
            "mid glamorgan",
            "south glamorgan",
            "west glamorgan",
            "vale of glamorgan",
            "powys",
            "gwynedd",
            "ceredigion",
            "fife",
            "midlothian",
            "east lothian",
            "west lothian",
            "dorset",
            "middlesex",
            "west yorkshire",
            "south yorkshire",
            "north yorkshire",
            "east riding of yorkshire",
        ]
        .contains(&l.as_str())
}

/// A line of an address block that gives a way to reach someone: an e-mail address, a
/// phone number alone, or a phone label with its number.
fn is_contact_line(t: &str) -> bool {
    let email = rx(&EMAIL).is_some_and(|r| r.is_match(t));
    // Who to ask for, in brackets after the number ("Tel. 963 555 412 (preguntar por
    // Vicent)"), is no part of it.
    let bare = match t
        .trim_end()
        .strip_suffix([')', '）'])
        .and_then(|h| h.rsplit_once(['(', '（']))
    {
        Some((head, remark)) if digits(remark) == 0 && remark.chars().any(char::is_alphabetic) => {
            head.trim_end()
        }
        _ => t,
    };
    // A postcode alone ("01304-001") has a phone number's form but is not one.
    let phone = digits(bare) >= 7
        && postcode_alone(bare).flatten().is_none()
        && rx(&PHONE_LINE).is_some_and(|r| r.is_match(bare));
    let head = t.split([':', '：']).next().map(norm_label);
    let labelled = head.as_deref().is_some_and(|head| {
        builtin_labels("phone")
            .iter()
            .any(|p| norm_label(p) == head)
    });
    // "담당자: 김민지 / 010-5555-2847", "聯絡人：林志明 07-555-3318": a contact person with
    // their number ("Contact chantier : M. Girard 06 55 51 22 09": the label qualified).
    let contact = t.contains([':', '：'])
        && head.as_deref().is_some_and(|head| {
            builtin_labels("contact").iter().any(|p| {
                let p = norm_label(p);
                head == p || head.strip_prefix(&p).is_some_and(|q| q.starts_with(' '))
            })
        })
        && rx(&PHONE)
            .and_then(|r| r.find_iter(t).last())
            .is_some_and(|m| (7..=15).contains(&digits(m.as_str())));
    // "Receiving: Mr. Joseph, 050 555 7712 (8 AM - 4 PM)", "Contact at site: Manjunath,
    // 98450 55321": a short label, a person's name, then their number.
    let person = t.split_once([':', '：']).is_some_and(|(head, value)| {
        let value = value.trim();
        digits(head) == 0
            && (1..=3).contains(&head.split_whitespace().count())
            && value.starts_with(char::is_alphabetic)
            && rx(&PHONE).and_then(|r| r.find(value)).is_some_and(|m| {
                (7..=15).contains(&digits(m.as_str())) && digits(&value[..m.start()]) == 0
            })
    });
    // "Shop phone: 01904 555 281", "Site mobile: …": a short label ending in a word for a
    // phone, then the number alone.
    let qualified = t.split_once([':', '：']).is_some_and(|(head, value)| {
        let words: Vec<String> = head.split_whitespace().map(str::to_lowercase).collect();
        digits(head) == 0
            && (2..=3).contains(&words.len())
            && words.last().is_some_and(|w| {
                ["phone", "tel", "tel.", "telephone", "mobile", "cell", "fax"].contains(&w.as_str())
            })
            && rx(&PHONE)
                .and_then(|r| r.find(value.trim()))
                .is_some_and(|m| {
                    (7..=15).contains(&digits(m.as_str())) && digits(value) == digits(m.as_str())
                })
    });
    email || phone || labelled || contact || person || qualified || phone_after_label(t).is_some()
}

/// A line that is only a company's registration or tax number with its label: `CVR
/// 40551287`, `NIP 736-155-20-84`, `KvK 12345678`, `USt-IdNr. DE123456789`, `SIRET 123 456
/// 789 00012`, `VAT No. GB123456789`, `Org.nr 556677-8899`. No address line reads so.
fn registration_line(t: &str) -> bool {
    const LABELS: &[&str] = &[
        "cvr",
        "cvr-nr",
        "cvr nr",
        "se-nr",
        "nip",
        "regon",
        "krs",
        "kvk",
        "kvk-nr",
        "kvk nr",
        "btw",
        "btw-nr",
        "btw nr",
        "ust-idnr",
        "ust-id",
        "ust-id-nr",
        "ust.-idnr",
        "uid",
        "uid-nr",
        "steuernummer",
        "st.-nr",
        "siret",
        "siren",
        "tva",
        "n° tva",
        "tva intracom",
        "vat",
        "vat no",
        "vat nr",
        "vat number",
        "vat reg",
        "vat reg no",
        "cif",
        "nif",
        "nie",
        "p.iva",
        "p. iva",
        "partita iva",
        "c.f",
        "cod. fisc",
        "codice fiscale",
        "org.nr",
        "org nr",
        "orgnr",
        "org.nr.",
        "organisationsnummer",
        "organisasjonsnummer",
        "mva",
        "y-tunnus",
        "ičo",
        "ico",
        "dič",
        "dic",
        "abn",
        "acn",
        "gst",
        "gst number",
        "gst reg no",
        "tax id",
        "tax number",
        "gst no",
        "gstin",
        "cnpj",
        "cpf",
        "rut",
        "ruc",
        "nit",
        "rfc",
        "vsk",
        "kennitala",
    ];
    let Some(at) = t.find(|c: char| c.is_ascii_digit()) else {
        return false;
    };
    let mut head = &t[..at];
    // "DE123456789": a country's letters joined to the number are the number's.
    if let Some(h) = head
        .strip_suffix(|c: char| c.is_ascii_uppercase())
        .and_then(|h| h.strip_suffix(|c: char| c.is_ascii_uppercase()))
        .filter(|h| h.is_empty() || h.ends_with([' ', ':', '.']))
    {
        head = h;
    }
    let label = norm_label(head.trim_end_matches(|c: char| c.is_whitespace() || ":#".contains(c)));
    let label = label.trim_end_matches('.');
    let number = &t[at..];
    LABELS.contains(&label)
        && digits(number) >= 6
        && number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " -./".contains(c))
        && number.chars().filter(|c| c.is_alphabetic()).count() <= 2
}

/// A Korean address line (`(10881) 경기도 파주시 회동길 145`): an optional postcode of five
/// digits (in brackets or not), the province or metropolitan city (`…도`, `…특별시`,
/// `…광역시`), the city or district (`…시`, `…군`, `…구`), then the road and number.
/// Returns postcode, region, city and street.
fn korean_address(line: &str) -> Option<(Option<String>, Option<String>, String, String)> {
    let hangul = |w: &str| w.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c));
    let t = line.trim();
    let (postal, rest) = {
        let inner = t.trim_start_matches(['(', '[']);
        let code: String = inner.chars().take_while(char::is_ascii_digit).collect();
        let after = inner[code.len()..].trim_start_matches([')', ']']);
        if code.len() == 5 && (after.starts_with(char::is_whitespace) || after.is_empty()) {
            (Some(code), after.trim())
        } else {
            (None, t)
        }
    };
    let mut words = rest.split_whitespace().peekable();
    let region = words
        .next_if(|w| {
            hangul(w)
                && ["도", "특별시", "광역시", "특별자치시", "특별자치도"]
                    .iter()
                    .any(|e| w.ends_with(e))
        })
        .map(String::from);
    let city = words.next_if(|w| hangul(w) && ["시", "군", "구"].iter().any(|e| w.ends_with(e)))?;
    let street: Vec<&str> = words.collect();
    let road = street.iter().any(|w| {
        hangul(w)
            && ["로", "길", "동", "읍", "면", "리"]
                .iter()
                .any(|e| w.ends_with(e))
    });
    (road && street.iter().any(|w| digits(w) > 0))
        .then(|| (postal, region, city.to_string(), street.join(" ")))
}

/// An East Asian address block, written from the largest unit to the smallest
/// (`〒150-0001` / `東京都渋谷区神宮前3-14-5` / `さくらカフェ`), the recipient before or after
/// it. Returns whether it was one.
fn east_asian_block(facts: &mut Facts, ctx: &Ctx, lines: &[String], confidence: f64) -> bool {
    let postal_of = |l: &str| {
        let t = l.trim().trim_start_matches('〒').trim();
        (t.len() == 8 && t.as_bytes()[3] == b'-' && digits(t) == 7).then(|| t.to_string())
    };
    // The address line has its house number; a recipient's name may hold an address word
    // too ("港都小館": 都 as in 東京都).
    let address = |l: &String| has_cjk(l) && postal_of(l).is_none() && is_east_asian_address(l);
    let Some(at) = lines
        .iter()
        .position(|l| address(l) && digits(l) > 0)
        .or_else(|| lines.iter().position(address))
    else {
        return false;
    };
    address_line(facts, ctx, &lines[at], confidence);
    // The building and floor below the street ("ブリーゼタワー12階", "华星大厦5楼", "302号室"),
    // or its shop unit ("…地下G03號舖", "…3座").
    let building = |l: &str| {
        let t = l.trim();
        digits(t) > 0
            && t.chars().count() <= 30
            && [
                "階", "号室", "室", "楼", "樓", "F", "舖", "铺", "層", "层", "座",
            ]
            .iter()
            .any(|e| t.ends_with(e))
    };
    for (i, l) in lines.iter().enumerate() {
        if i == at {
            continue;
        }
        if let Some(p) = postal_of(l) {
            ctx.put(facts, "ship_to.postal_code", Some(p), confidence);
            ctx.put(facts, "ship_to.country", Some("JP".into()), confidence);
        } else if i == at + 1 && building(l) && !facts.contains_key("ship_to.line2") {
            ctx.put(
                facts,
                "ship_to.line2",
                Some(l.trim().to_string()),
                confidence,
            );
        } else if is_contact_line(l) {
        } else if !facts.contains_key("ship_to.name") {
            ctx.put(
                facts,
                "ship_to.name",
                Some(l.trim().to_string()),
                confidence * 0.95,
            );
        }
    }
    true
}

/// Whether a CJK line reads as an address (a prefecture, province or city, then a street),
/// after a postcode that leads it ("701016 臺南市東區…", Taiwan's six digits).
fn is_east_asian_address(l: &str) -> bool {
    let t = l.trim();
    let lead = t.chars().take_while(char::is_ascii_digit).count();
    let t = match (3..=6).contains(&lead) {
        true => t[lead..].trim_start(),
        false => t,
    };
    let head: String = t.chars().take(8).collect();
    [
        "都", "道", "府", "県", "省", "市", "区", "區", "縣", "县", "香港", "台灣", "臺灣",
    ]
    .iter()
    .any(|m| head.contains(m))
}

/// Parses an address written on one line: Chinese (`广东省深圳市南山区科技园路1号`) or
/// comma-separated (`12 Main St, Springfield, IL 62701`).
fn address_line(facts: &mut Facts, ctx: &Ctx, text: &str, confidence: f64) {
    let text = text.trim();
    if has_cjk(text) {
        let mut rest = text.to_string();
        let mut postal = None;
        // A Japanese postcode before the address: 〒150-0001.
        if let Some(after) = rest.strip_prefix('〒') {
            let code: String = after.trim_start().chars().take(8).collect();
            if code.len() == 8 && code.as_bytes()[3] == b'-' && digits(&code) == 7 {
                postal = Some(code.clone());
                rest = after.trim_start()[code.len()..].trim().to_string();
            }
        }
        if let Some(m) = rx(&CN_POSTAL)
            .and_then(|r| r.captures(text))
            .filter(|_| postal.is_none())
        {
            if text.starts_with(&m[1]) || text.ends_with(&m[1]) {
                postal = Some(m[1].to_string());
                rest = rest.replace(&m[1], "").trim().to_string();
            }
        }
        // China's postcodes have six digits; three or five before the city are Taiwan's.
        let mut taiwanese_postal = false;
        if postal.is_none() {
            // A Taiwanese postcode of three or five digits written before the city
            // ("106台北市大安區…").
            // ("806 高雄市前鎮區…" with a space between).
            let lead = rest.chars().take_while(char::is_ascii_digit).count();
            let after = rest[lead..].trim_start();
            if (lead == 3 || lead == 5) && after.starts_with(|c: char| has_cjk(&c.to_string())) {
                postal = Some(rest[..lead].to_string());
                rest = after.to_string();
                taiwanese_postal = true;
            }
        }
        let mut country = "CN";
        for (mark, code) in [
            ("香港", "HK"),
            ("台灣", "TW"),
            ("臺灣", "TW"),
            ("台北", "TW"),
            ("臺北", "TW"),
            ("台中", "TW"),
            ("高雄", "TW"),
            // Taiwan's other cities and counties ("701016 臺南市東區…"): 臺 is written
            // only there and in Hong Kong, which names no such city.
            ("臺中", "TW"),
            ("臺南", "TW"),
            ("台南", "TW"),
            ("新北市", "TW"),
            ("桃園市", "TW"),
            ("基隆市", "TW"),
            ("新竹市", "TW"),
            ("新竹縣", "TW"),
            ("嘉義市", "TW"),
            ("嘉義縣", "TW"),
            ("苗栗縣", "TW"),
            ("彰化縣", "TW"),
            ("南投縣", "TW"),
            ("雲林縣", "TW"),
            ("屏東縣", "TW"),
            ("宜蘭縣", "TW"),
            ("花蓮縣", "TW"),
            ("臺東", "TW"),
            ("台東縣", "TW"),
            ("澎湖縣", "TW"),
        ] {
            if rest.contains(mark) {
                country = code;
            }
        }
        if taiwanese_postal && country == "CN" {
            country = "TW";
        }
        for p in ["中国", "中國", "台灣", "臺灣"] {
            rest = rest.trim_start_matches(p).to_string();
        }
        let mut region = None;
        // A Taiwanese county before its city or township ("新竹縣竹北市…"): the county is
        // the region.
        if country == "TW" {
            if let Some(at) = rest.find('縣').filter(|at| *at <= 12) {
                let end = at + '縣'.len_utf8();
                let town = rest[end..]
                    .find(['市', '鎮', '鄉'])
                    .is_some_and(|t| t > 0 && t <= 12);
                if town {
                    region = Some(rest[..end].to_string());
                    rest = rest[end..].to_string();
                }
            }
        }
        // Japanese prefectures: 東京都, 北海道, 大阪府 / 京都府, then …県.
        let kana = rest.chars().any(|c| ('\u{3040}'..='\u{30FF}').contains(&c));
        for p in ["東京都", "北海道", "大阪府", "京都府"] {
            if rest.starts_with(p) {
                region = Some(p.to_string());
                rest = rest[p.len()..].to_string();
            }
        }
        if region.is_none() {
            if let Some(at) = rest.find('県').filter(|at| *at <= 12) {
                let end = at + '県'.len_utf8();
                region = Some(rest[..end].to_string());
                rest = rest[end..].to_string();
            }
        }
        if !taiwanese_postal && (region.is_some() || kana || text.starts_with('〒')) {
            country = "JP";
        }
        if country == "HK" {
            // Hong Kong is its own city.
            if let Some(after) = rest.strip_prefix("香港") {
                rest = after.to_string();
            }
        }
        for marker in ["自治区", "省"] {
            if region.is_some() {
                break;
            }
            if let Some(at) = rest.find(marker) {
                if at <= 12 {
                    let end = at + marker.len();
                    region = Some(rest[..end].to_string());
                    rest = rest[end..].to_string();
                    break;
                }
            }
        }
        let mut city = None;
        if country == "HK" {
            city = Some("香港".to_string());
        }
        let marker = rest
            .find(['市', '縣', '县'])
            .filter(|at| *at <= 15)
            .or_else(|| rest.find(['区', '區']).filter(|at| *at <= 15));
        if let (Some(at), None) = (marker, &city) {
            let end = at + '市'.len_utf8();
            city = Some(rest[..end].to_string());
            rest = rest[end..].to_string();
        }
        // Municipalities are their own province.
        if region.is_none() && city.is_none() {
            for m in ["北京", "上海", "天津", "重庆", "重慶"] {
                if rest.starts_with(m) {
                    city = Some(m.to_string());
                    rest = rest[m.len()..].to_string();
                }
            }
        }
        // A recipient and phone written after the street ("…1号 张三 13800138000").
        let (rest, phone) = split_trailing_phone(&rest);
        let mut words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() >= 2 {
            let last = words[words.len() - 1];
            let n = last.chars().count();
            // A person's or shop's name, not a building ("大厦", "ビル") in a Japanese or
            // Chinese street address.
            let building = [
                "楼", "樓", "座", "室", "栋", "棟", "号", "號", "大厦", "大廈", "中心", "广场",
                "廣場", "ビル", "館",
            ]
            .iter()
            .any(|b| last.ends_with(b));
            if has_cjk(last)
                && !kana
                && !building
                && (2..=4).contains(&n)
                && digits(last) == 0
                && !is_east_asian_address(last)
            {
                ctx.put(
                    facts,
                    "ship_to.name",
                    Some(last.to_string()),
                    confidence * 0.9,
                );
                words.pop();
            }
        }
        // "北区芝田2丁目4-11 梅田ノースビル1F": the building and its floor after the house
        // number, set apart by a space, is the second line, as on its own line below.
        if words.len() >= 2 {
            let last = words[words.len() - 1];
            let floor = ["階", "F", "楼", "樓", "層", "层", "号室"]
                .iter()
                .any(|e| last.ends_with(e));
            let numbered = words[words.len() - 2].ends_with(|c: char| c.is_ascii_digit());
            if floor && numbered && has_cjk(last) && digits(last) > 0 {
                ctx.put(facts, "ship_to.line2", Some(last.to_string()), confidence);
                words.pop();
            }
        }
        let rest = words.join(" ");
        if !facts.contains_key("customer.phone") {
            ctx.put(facts, "customer.phone", phone, confidence * 0.8);
        }
        ctx.put(facts, "ship_to.line1", Some(rest), confidence);
        ctx.put(facts, "ship_to.city", city, confidence);
        ctx.put(facts, "ship_to.region", region, confidence);
        ctx.put(facts, "ship_to.postal_code", postal, confidence);
        ctx.put(
            facts,
            "ship_to.country",
            Some(country.into()),
            confidence * 0.9,
        );
        return;
    }
    let parts: Vec<String> = text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    // "Rua XV de Novembro, 700 - Centro", "Via Roma, 12": the house number written after a
    // comma belongs to the street before it.
    let mut joined: Vec<String> = Vec::new();
    for p in parts {
        let number_only = p.starts_with(|c: char| c.is_ascii_digit())
            && p.split_whitespace().next().is_some_and(|w| w.len() <= 5)
            && postcode_alone(&p).flatten().is_none()
            && city_line(&p).is_none();
        let several = joined.len() > 1;
        match joined.last_mut() {
            Some(prev) if number_only && several && !prev.chars().any(|c| c.is_ascii_digit()) => {
                prev.push_str(", ");
                prev.push_str(&p);
            }
            _ => joined.push(p),
        }
    }
    let mut parts = joined;
    // A country written last is put back after the city line is joined.
    let country = (parts.len() >= 3 && parts.last().is_some_and(|l| country_of(l).is_some()))
        .then(|| parts.pop())
        .flatten();
    // "Springfield, IL 62701": state and ZIP belong to the city line; so do a Japanese
    // prefecture and postcode after the ward ("Chiyoda-ku, Tokyo 100-0005").
    re!(STATE_ZIP, r"^[A-Z]{2}\s+[0-9]{5}(?:-[0-9]{4})?$");
    re!(PREFECTURE_POSTAL, r"^[A-Za-z-]+\s+〒?[0-9]{3}-[0-9]{4}$");
    // "Ottawa, ON K1N 5Z2": a Canadian province and postal code likewise.
    re!(
        PROVINCE_POSTAL,
        r"^[A-Z]{2}\s+[A-Z][0-9][A-Z]\s?[0-9][A-Z][0-9]$"
    );
    if parts.len() >= 3
        && parts.last().is_some_and(|l| {
            rx(&STATE_ZIP).is_some_and(|r| r.is_match(l))
                || rx(&PROVINCE_POSTAL).is_some_and(|r| r.is_match(l))
                || rx(&PREFECTURE_POSTAL).is_some_and(|r| r.is_match(l))
        })
    {
        let state = parts.pop().unwrap_or_default();
        let city = parts.pop().unwrap_or_default();
        parts.push(format!("{city}, {state}"));
    }
    parts.extend(country);
    // A first part without a digit before a street is the name ("Firma X, Hauptstr. 1,
    // 12345 Y"); otherwise there is no name and the mapping takes the customer's.
    let named = parts.len() >= 3
        && !parts[0].chars().any(|c| c.is_ascii_digit())
        && parts[1].chars().any(|c| c.is_ascii_digit());
    let mut lines = if named {
        Vec::new()
    } else {
        vec!["-".to_string()]
    };
    lines.extend(parts);
    let mut tmp = Facts::new();
    address_block(&mut tmp, ctx, lines, confidence);
    if !named {
        tmp.remove("ship_to.name");
    }
    for (k, v) in tmp {
        facts.entry(k).or_insert(v);
    }
}

/// First words of a header that make it the description column.
const HEAD_NAME: &[&str] = &[
    "description",
    "descrizione",
    "descripción",
    "descrição",
    "désignation",
    "designation",
    "libellé",
    "bezeichnung",
    "beschreibung",
    "omschrijving",
    "品名",
    "名称",
    "名稱",
];

/// First words of a header that name a price.
const HEAD_PRICE: &[&str] = &[
    "price", "precio", "prezzo", "prix", "preço", "preis", "prijs", "valor", "cost", "pris", "cena",
];

/// First words of a header that make it the quantity column.
const HEAD_QUANTITY: &[&str] = &[
    "qty",
    "quantity",
    "quantité",
    "quantità",
    "cantidad",
    "quantidade",
    "menge",
    "anzahl",
    "aantal",
    "数量",
    "數量",
];

/// Header names of columns that hold nothing an order line needs.
const UNUSED_COLUMNS: &[&str] = &[
    // India's goods and services codes, and its split GST's rate and amount columns.
    "hsn/sac",
    "hsn",
    "sac",
    "hsn code",
    "cgst % amt",
    "sgst % amt",
    "igst % amt",
    "cgst",
    "sgst",
    "igst",
    // The Polish position and unit of measure ("Lp.", "J.m.").
    "lp",
    "j.m",
    "jm",
    "pos",
    "pos.",
    "position",
    "line",
    "line no",
    "#",
    "no",
    "nr",
    "n°",
    "nº",
    "lfd. nr",
    "uom",
    "u/m",
    "um",
    "unit of measure",
    "einheit",
    "einh",
    "me",
    "unité",
    "unidad",
    "ud",
    "eenheid",
    "unità",
    "unidade",
    "un",
    "単位",
    "单位",
    "單位",
    "pack",
    "pack size",
    "pack qty",
    "case size",
    "vpe",
    "conditionnement",
    "envase",
    "verpakking",
    "confezione",
    "embalagem",
    "序号",
    "序號",
    "項番",
    "no.",
    "sl",
    "sl.",
    "s.no",
    "s.no.",
    "sr",
    "sr.",
    // The serial number in Hindi and Serbian ("क्र.", "Р.бр.").
    "क्र.",
    "क्र",
    "р.бр.",
    "р. бр.",
    "r.br.",
    "r. br.",
    "рб",
    // The rate of VAT a line is taxed at ("MwSt." holding 7 % or 19 %, "VAT %", "Taux TVA").
    "mwst",
    "mwst %",
    "mwst.-satz",
    "mwst-satz",
    "ust",
    "ust %",
    "ust.-satz",
    "steuersatz",
    "steuer",
    "vat",
    "vat %",
    "vat rate",
    "tax",
    "tax %",
    "tax rate",
    "tva",
    "tva %",
    "taux tva",
    "taux de tva",
    "iva",
    "iva %",
    "% iva",
    "aliquota iva",
    "tipo iva",
    "btw",
    "btw %",
    "btw-tarief",
    "gst",
    "gst %",
    "moms",
    "moms %",
    "税率",
];

/// Header words that name the item's code when the table also has a description column, and
/// its name otherwise.
const ITEM_OR_CODE: &[&str] = &[
    "item",
    "артикул",
    // An ERP's (SAP's) material number beside the description.
    "material",
    "artikel",
    "article",
    "articolo",
    "artículo",
    "articulo",
    "artigo",
    "product",
    "produkt",
    "produit",
    "producto",
    "prodotto",
    "produto",
];

/// Whether a header names the item's code or its name by the table's other columns
/// ([`ITEM_OR_CODE`]), alone or joined with another word ("Product/Service").
fn item_or_code(n: &str) -> bool {
    ITEM_OR_CODE.contains(&n)
        || (n.contains('/') && n.split('/').any(|p| ITEM_OR_CODE.contains(&p.trim())))
}

/// Whether a header cell's name (as [`column_name`] gives it) names column `col`: the name as
/// written, else without its qualifiers (`Prijs excl. BTW (EUR)`), else one of the names it
/// joins (`ISBN/SKU`).
fn names_column(n: &str, col: &'static str, template: Option<&Template>) -> bool {
    static BUILTIN: LazyLock<BTreeMap<&'static str, Vec<String>>> = LazyLock::new(|| {
        super::template::COLUMNS
            .iter()
            .map(|c| {
                (
                    *c,
                    builtin_columns(c).iter().map(|a| column_name(a)).collect(),
                )
            })
            .collect()
    });
    let exact = |n: &str, col: &'static str| {
        template.is_some_and(|t| t.columns(col).iter().any(|a| column_name(a) == n))
            || BUILTIN.get(col).is_some_and(|a| a.iter().any(|a| a == n))
    };
    // "Množ. MJ", "Menge ME", "Qty UoM": a quantity column headed together with its unit's,
    // whose cells write the unit after the number ("30 ks").
    const UNIT_COLUMNS: &[&str] = &["mj", "m.j.", "j.m.", "jm", "me", "uom", "unit", "ед."];
    let with_unit = |n: &str| {
        n.rsplit_once(' ').is_some_and(|(q, u)| {
            UNIT_COLUMNS.contains(&u) && exact(q.trim().trim_end_matches('.'), "quantity")
        })
    };
    // "Nº artículo", "No. article", "Nr. Artikel": the item's number.
    let numbered_item = |n: &str| {
        ["nº", "n°", "no.", "no", "nr.", "nr", "#"].iter().any(|m| {
            n.strip_prefix(m)
                .map(|r| r.trim_start_matches(['.', ' ']))
                .is_some_and(|r| {
                    r.len() < n.len() - 1 && ITEM_OR_CODE.contains(&r.trim_start_matches("de "))
                })
        })
    };
    // "貨品編號", "物料编码", "商品代碼": a Chinese header ends with the word that names it
    // (a number or code; a name), what is numbered or named before it.
    let chinese_suffix = |n: &str| {
        let ends = |ws: &[&str]| has_cjk(n) && ws.iter().any(|w| n.ends_with(w) && n != *w);
        match col {
            "sku" => ends(&[
                "编号", "編號", "编码", "編碼", "代码", "代碼", "货号", "貨號", "品号", "品號",
            ]),
            "name" => ends(&["名称", "名稱", "品名"]),
            // "含税单价", "未稅單價": a unit price with or without the tax.
            "unit_price" => ends(&["单价", "單價"]),
            _ => false,
        }
    };
    exact(n, col)
        || chinese_suffix(n)
        || (col == "sku" && numbered_item(n))
        || (col == "sku" && supplier_code_header(n, |c| exact(c, "sku")))
        || (col == "quantity" && with_unit(n))
        || column_core(n).is_some_and(|c| exact(&c, col))
        || (n.contains('/') && n.split('/').any(|p| exact(p.trim(), col)))
        // "Descrizione articolo", "Quantité commandée": a word only a description or a
        // quantity column starts with; "Precio unidad", "Prix à l'unité": a price per unit.
        || n.split_whitespace().next().is_some_and(|w| {
            n.contains(' ')
                && match col {
                    "name" => HEAD_NAME.contains(&w),
                    "quantity" => HEAD_QUANTITY.contains(&w),
                    "unit_price" => {
                        HEAD_PRICE.contains(&w)
                            && n.split_whitespace().skip(1).any(|u| {
                                ["unit", "unid", "ud", "uni", "stück", "stuk", "stk", "szt", "kpl", "each", "pièce", "pz", "pezzo"]
                                    .iter()
                                    .any(|p| u.trim_start_matches("l'").starts_with(p))
                            })
                    }
                    _ => false,
                }
        })
}

/// Whether a header names a code column together with whose code it is, the supplier's (the
/// code an order quotes): "Vendor SKU", "Supplier Item #", "Mfr Part No", "Réf. fournisseur",
/// "Art.-Nr. Lieferant", "Codice fornitore". `is_code` tells a bare code header.
fn supplier_code_header(n: &str, is_code: impl Fn(&str) -> bool) -> bool {
    const OWNERS: &[&str] = &[
        "vendor",
        "vendor's",
        "supplier",
        "supplier's",
        "seller",
        "seller's",
        "manufacturer",
        "mfr",
        "mfr.",
        "mfg",
        "mfg.",
        "fournisseur",
        "lieferant",
        "lieferanten",
        "fornitore",
        "proveedor",
        "fornecedor",
        "leverancier",
        "dostawcy",
        "dodavatele",
    ];
    let owned = |rest: &str| {
        let rest = rest.trim();
        !rest.is_empty() && (is_code(rest) || is_code(rest.trim_end_matches('.')))
    };
    OWNERS.iter().any(|o| {
        let before = n
            .strip_prefix(o)
            .filter(|r| r.starts_with(' '))
            .is_some_and(owned);
        let after = n
            .strip_suffix(o)
            .and_then(|r| r.strip_suffix(' '))
            .is_some_and(|r| owned(r.trim_end_matches(" du").trim_end_matches(" de")));
        before || after
    })
}

/// The columns by cell when the cells are a line-table header.
fn header_columns(cs: &[Cell], template: Option<&Template>) -> Option<Vec<Option<&'static str>>> {
    // A table header has a quantity column; most lines have no cell that could name one.
    if cs.len() < 2 {
        return None;
    }
    let names: Vec<String> = cs.iter().map(|c| column_name(&c.text)).collect();
    let lookup = |n: &str, col: &'static str| names_column(n, col, template);
    let mut cols: Vec<Option<&'static str>> = vec![None; names.len()];
    let mut taken = std::collections::HashSet::new();
    // Template headers first, then the built-in ones, column by column.
    for col in super::template::COLUMNS {
        for (i, n) in names.iter().enumerate() {
            if cols[i].is_none() && !taken.contains(col) && lookup(n, col) {
                // "Item", "Artikel", "Product" are the code when a column that can only be
                // the description exists too ("Artikel | Bezeichnung").
                if *col == "name"
                    && item_or_code(n)
                    && names.iter().any(|m| !item_or_code(m) && lookup(m, "name"))
                {
                    if !taken.contains("sku") {
                        cols[i] = Some("sku");
                        taken.insert("sku");
                    }
                    continue;
                }
                cols[i] = Some(col);
                taken.insert(*col);
            }
        }
    }
    // "Réf. | Article | Qté": with the code column named, "Article" is the item's name.
    if !taken.contains("name") && taken.contains("sku") {
        if let Some(i) = names.iter().enumerate().position(|(i, n)| {
            cols[i].is_none()
                && ITEM_OR_CODE.contains(&column_core(n).unwrap_or_else(|| n.clone()).as_str())
        }) {
            cols[i] = Some("name");
            taken.insert("name");
        }
    }
    // A bare "Unit" (or "Unit €") is the unit price when no column names the price; with a
    // price column it is the unit of measure.
    if !taken.contains("unit_price") {
        if let Some(i) = names.iter().enumerate().position(|(i, n)| {
            let core = column_core(n).unwrap_or_else(|| n.clone());
            cols[i].is_none()
                && ["unit", "valor unit", "preço unit", "per unit"].contains(&core.as_str())
        }) {
            cols[i] = Some("unit_price");
            taken.insert("unit_price");
        }
    }
    // "Prijs per verpakking" beside "Aantal verpakkingen", "Preis pro Karton" beside
    // "Anzahl Kartons": a price per the very thing the quantity column counts is the unit
    // price (a price per anything else, "Prijs per kg", is not).
    if !taken.contains("unit_price") {
        let counted = cols
            .iter()
            .position(|c| *c == Some("quantity"))
            .map(|q| names[q].clone());
        if let Some(counted) = counted {
            if let Some(i) = names.iter().enumerate().position(|(i, n)| {
                let w: Vec<&str> = n.split_whitespace().collect();
                cols[i].is_none()
                    && w.len() == 3
                    && HEAD_PRICE.contains(&w[0])
                    && ["per", "pro", "par", "por", "je", "a", "à"].contains(&w[1])
                    && w[2].chars().count() >= 4
                    && counted
                        .split_whitespace()
                        .skip(1)
                        .any(|c| c.starts_with(&w[2].chars().take(6).collect::<String>()))
            }) {
                cols[i] = Some("unit_price");
                taken.insert("unit_price");
            }
        }
    }
    let known = cols.iter().filter(|c| c.is_some()).count();
    // Empty header cells (a spreadsheet table that starts in column C) are not unknown names,
    // nor are columns an order table often has and no fact needs: the position, the unit of
    // measure, the pack size.
    let named = names
        .iter()
        .filter(|n| !n.is_empty() && !UNUSED_COLUMNS.contains(&n.as_str()))
        .count();
    (taken.contains("quantity") && known >= 2 && known * 2 >= named).then_some(cols)
}

/// A header whose column names a PDF's layout wrote one space apart (`UM Cant. Preț unitar
/// Valoare RON`, `Antal Stk.pris Beløb DKK`), which reads as one cell: each such cell split
/// into the fewest pieces that are each a known column name (or a column no fact needs),
/// each piece keeping its own place on the line. `None` when no cell splits.
fn split_joined_header(header: &[Cell], template: Option<&Template>) -> Option<Vec<Cell>> {
    let known = |words: &[Cell]| {
        // "MwSt. Einzelpreis": a tax's name before a price is the tax rate's own column, not
        // a qualifier of the price's ("Einzelpreis inkl. MwSt." is one).
        if words.len() >= 2
            && [
                "mwst", "ust", "vat", "tva", "iva", "btw", "gst", "tax", "moms", "dph",
            ]
            .contains(&column_name(&words[0].text).as_str())
        {
            return false;
        }
        let text: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        let n = column_name(&text.join(" "));
        UNUSED_COLUMNS.contains(&n.as_str())
            || super::template::COLUMNS
                .iter()
                .any(|c| names_column(&n, c, template))
    };
    // Column names have no digits (a line with them is a row, not a header).
    if header.iter().any(|c| digits(&c.text) > 0) || !header.iter().any(|c| c.text.contains(' ')) {
        return None;
    }
    let mut out = Vec::new();
    let mut split = false;
    for c in header {
        let words = words_of(c);
        // A header cell has a few words; more is a sentence, not a header.
        if words.len() < 2 || words.len() > 8 || known(&words) {
            out.push(c.clone());
            continue;
        }
        // best[i]: the fewest known pieces words[..i] splits into, and where the last starts.
        let mut best: Vec<Option<(usize, usize)>> = vec![None; words.len() + 1];
        best[0] = Some((0, 0));
        for end in 1..=words.len() {
            best[end] = (0..end)
                .filter_map(|from| {
                    let (count, _) = best[from]?;
                    known(&words[from..end]).then_some((count + 1, from))
                })
                .min_by_key(|(count, _)| *count);
        }
        let mut bounds = Vec::new();
        let mut end = words.len();
        while end > 0 {
            let Some((_, from)) = best[end] else {
                break;
            };
            bounds.push((from, end));
            end = from;
        }
        if end > 0 || bounds.is_empty() {
            out.push(c.clone());
            continue;
        }
        split = true;
        for (from, end) in bounds.into_iter().rev() {
            let piece = &words[from..end];
            out.push(Cell {
                start: piece[0].start,
                end: piece[piece.len() - 1].end,
                text: piece
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            });
        }
    }
    split.then_some(out)
}

/// A header cell's text as a column name: [`norm_label`] form without a trailing `.` or `:`
/// or currency ("unit_price_gbp", "price (usd)": the currency is not part of the name).
fn column_name(s: &str) -> String {
    // Portuguese abbreviates with a raised letter after the dot ("Ref.ª" for referência).
    let s = s.trim().strip_suffix(".ª").unwrap_or(s);
    // An export's field name written in camel case ("ProductCode", "UnitPrice"): its words.
    let spaced;
    let s = if !s.contains(' ')
        && s.chars().all(|c| c.is_ascii_alphabetic())
        && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars()
            .zip(s.chars().skip(1))
            .any(|(a, b)| a.is_ascii_lowercase() && b.is_ascii_uppercase())
    {
        let mut out = String::with_capacity(s.len() + 4);
        let mut prev_lower = false;
        for c in s.chars() {
            if prev_lower && c.is_ascii_uppercase() {
                out.push(' ');
            }
            prev_lower = c.is_ascii_lowercase();
            out.push(c);
        }
        spaced = out;
        spaced.as_str()
    } else {
        s
    };
    let mut n = norm_label(s.trim_end_matches(['.', ':']));
    // "Unit Price (ex GST)", "单价(元)": the parenthesis qualifies the column, it does not
    // name it.
    if let (Some(open), true) = (n.rfind(['(', '（']), n.ends_with([')', '）'])) {
        if open > 0 {
            // "P. Unit. ($)": the name's own closing dot goes too.
            n = n[..open]
                .trim()
                .trim_end_matches(['.', ':'])
                .trim()
                .to_string();
        }
    }
    for code in [
        "usd", "gbp", "eur", "cny", "rmb", "hkd", "twd", "(usd)", "(gbp)", "(eur)", "(€)", "($)",
        "(£)", "(¥)", "(元)",
    ] {
        // "Prix EUR", "单价(元)"; not the end of a word ("Réf. fournisseur").
        if let Some(stripped) = n
            .strip_suffix(code)
            .filter(|s| code.starts_with('(') || s.is_empty() || s.ends_with(' '))
        {
            n = stripped.trim().to_string();
        }
    }
    n
}

/// A header cell's name without the words that qualify a column rather than name it: a
/// currency (`PU CHF`, `Unit €`), a tax basis (`Prijs excl. BTW`, `Unit ex GST`, `Preis
/// netto`), a parenthesis anywhere (`Price (CAD) each`). `None` when nothing was dropped.
fn column_core(name: &str) -> Option<String> {
    const TAX: &[&str] = &[
        "btw", "gst", "vat", "mwst", "mwst.", "ust", "ust.", "tva", "iva", "tax", "taxes", "dph",
        "pvn", "pdv", "пдв", "sst", "ppn",
    ];
    const BASIS: &[&str] = &[
        "ex",
        "ex.",
        "excl",
        "excl.",
        "exkl",
        "exkl.",
        "excluding",
        "inc",
        "inc.",
        "incl",
        "incl.",
        "inkl",
        "inkl.",
        "including",
        "zzgl",
        "zzgl.",
        "hors",
        "sans",
        "senza",
        "sin",
        "sem",
        "zonder",
        "ohne",
        "plus",
        "s/",
        "c/",
        "w/o",
        "bez",
        "без",
    ];
    // Words inside parentheses are dropped whole.
    let mut kept: Vec<&str> = Vec::new();
    let mut inside = false;
    let mut token = String::new();
    for c in name.chars() {
        match c {
            '(' | '（' => {
                inside = true;
                token.push(' ');
            }
            ')' | '）' => {
                inside = false;
                token.push(' ');
            }
            _ if inside => {}
            _ => token.push(c),
        }
    }
    let toks: Vec<&str> = token.split_whitespace().collect();
    let mut i = 0;
    while i < toks.len() {
        // "Cena, EUR": the comma before a qualifier.
        let t = toks[i].trim_end_matches(',');
        let cur = currency_of(t).is_some()
            || [
                "$", "cad", "aud", "nzd", "chf", "jpy", "brl", "mxn", "sgd", "eur",
            ]
            .contains(&t);
        if cur
            || TAX.contains(&t)
            || (["ht", "ttc", "netto", "brutto", "net"].contains(&t) && i > 0)
        {
            i += 1;
            continue;
        }
        if BASIS.contains(&t) {
            // The basis word and the tax it names.
            i += 1;
            if toks.get(i).is_some_and(|n| TAX.contains(n)) {
                i += 1;
            }
            continue;
        }
        kept.push(t);
        i += 1;
    }
    let core = kept.join(" ");
    (!core.is_empty() && core != name).then_some(core)
}

/// A row label naming the order's grand total (not a subtotal, tax or shipping row).
fn is_grand_total(label: &str) -> bool {
    let t = label
        .trim()
        .trim_end_matches([':', '：'])
        .trim()
        .to_lowercase();
    let bare = t.strip_prefix("total").map(str::trim);
    [
        "total",
        "grand total",
        "order total",
        "total amount",
        "合计",
        "合計",
        "总计",
        "總計",
    ]
    .contains(&t.as_str())
        || bare.is_some_and(|rest| currency_of(rest.trim_matches(['(', ')'])).is_some())
}

/// Whether a row starts with a total, shipping or tax word, as a word (`BTW 21%` is Dutch
/// VAT; `BTW-KING-3` is an item code).
pub fn is_total_row(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    TOTAL_WORDS.iter().any(|w| {
        t.strip_prefix(w).is_some_and(|rest| {
            !w.is_ascii()
                || !rest
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
    })
}

/// Builds a line from cells named by column; `None` without a quantity.
fn make_line(named: &[(&str, String)], ctx: &Ctx, confidence: f64) -> Option<Line> {
    let get = |k: &str| {
        named
            .iter()
            .filter(|(c, _)| *c == k)
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
            .map(String::from)
    };
    let dc = ctx.decimal_comma();
    let raw_quantity = get("quantity")?;
    let quantity = parse_quantity(&raw_quantity, dc)?;
    let mut unit_price =
        get("unit_price").and_then(|p| price_per(&p, dc).or_else(|| parse_decimal(&p, dc)));
    if let Some(per) = get("price_unit").and_then(|n| price_unit(&n, dc)) {
        unit_price = unit_price
            .and_then(|p| p.checked_div(per))
            .map(|d| d.normalize());
    }
    let mut confidence = confidence;
    let amount = get("amount").and_then(|a| parse_decimal(&a, dc));
    // "10 %", "-10 %", "0": a percentage off the line, at most all of it (a discount's
    // minus sign says it is off, not how much).
    let discount = get("discount")
        .and_then(|d| parse_decimal(d.trim_end_matches(['%', ' ']).trim(), dc))
        .map(|d| d.abs())
        .filter(|d| *d <= Decimal::ONE_HUNDRED);
    let mut doubt = None;
    if let (Some(p), Some(a)) = (unit_price, amount) {
        if (line_amount(quantity, p, discount) - a).abs() > Decimal::new(1, 2) {
            doubt = Some("lines: a line's quantity × unit price is not its amount".to_string());
            confidence = confidence.min(0.5);
        }
    } else if ctx.decimal_comma.is_none()
        && !ctx.template.is_some_and(|t| t.decimal_comma)
        && grouped_thousands(&raw_quantity)
    {
        // "1.250": 1250 in Germany, 1.25 in England; nothing else in the text tells.
        doubt = Some("lines: a quantity can be read two ways (1.250)".to_string());
        confidence = confidence.min(0.5);
    }
    if unit_price.is_none() && discount.is_some_and(|d| !d.is_zero()) {
        // The amount is after the line's discount: the price before it is not written, and
        // a person reads it rather than a guess from the amount.
        doubt = Some("lines: a line's unit price before its discount is not written".to_string());
        confidence = confidence.min(0.5);
    } else if unit_price.is_none() {
        if let Some(amount) = amount {
            let exact = amount.checked_div(quantity);
            unit_price = exact.map(|d| d.round_dp(4).normalize());
            confidence *= 0.9;
            // An amount that its quantity does not divide into whole cents is rarely a price
            // times a quantity: more likely the row's price column was not read.
            if exact.is_some_and(|d| d.round_dp(2) * quantity != amount) {
                doubt = Some(
                    "lines: a line's unit price is its amount divided by its quantity, which does \
                     not come out in whole cents"
                        .to_string(),
                );
                confidence = confidence.min(0.5);
            }
        }
    }
    let mut sku = get("sku");
    if ctx.trust < 1.0 {
        // OCR puts spaces around the hyphens of codes ("PAP - A4"); codes have none there.
        sku = sku.map(|s| {
            let parts: Vec<&str> = s.split('-').map(str::trim).collect();
            if parts.iter().all(|p| !p.is_empty() && !p.contains(' ')) {
                parts.join("-")
            } else {
                s
            }
        });
    }
    let mut name = get("name");
    // "Soy wax 464" with its variant "10 lb slab": "Soy wax 464 - 10 lb slab", as the shop
    // names the line (Shopify's "Default Title" is no variant).
    if let (Some(n), Some(v)) = (&name, get("variant")) {
        if !v.eq_ignore_ascii_case("default title") && !contains_ci(n, &v) {
            name = Some(format!("{n} - {v}"));
        }
    }
    // One cell with the code and the name ("GOB-12 – Gobelets 12 oz"): split it.
    let joined = match (&sku, &name) {
        (Some(cell), None) => code_lead(cell).filter(|(_, n)| !leftover_code(n)),
        // A name cell's code must have a digit ("USB-C – cable" is a name).
        (None, Some(cell)) => code_lead(cell)
            .filter(|(c, n)| c.chars().any(|d| d.is_ascii_digit()) && !leftover_code(n)),
        _ => None,
    }
    .map(|(c, n)| (c.to_string(), n.to_string()));
    if let Some((code, rest)) = joined {
        sku = Some(code);
        name = Some(rest);
    }
    Some(Line {
        sku,
        name,
        spec: get("spec"),
        quantity: Some(quantity),
        unit_price,
        confidence: (confidence * ctx.trust).clamp(0.0, 1.0),
        doubt,
        discount,
    })
}

/// A table row whose quantity cell is blank but whose item (its code and name) and unit
/// price are written: the line without a quantity, in doubt.
fn quantityless_line(named: &[(&str, String)], ctx: &Ctx) -> Option<Line> {
    let has = |k: &str| named.iter().any(|(c, v)| *c == k && !v.trim().is_empty());
    if has("quantity") || has("amount") || !(has("sku") && has("name") && has("unit_price")) {
        return None;
    }
    let mut with_one: Vec<(&str, String)> = named.to_vec();
    with_one.push(("quantity", "1".into()));
    let line = make_line(&with_one, ctx, 0.5)?;
    Some(Line {
        quantity: None,
        confidence: line.confidence.min(0.5),
        doubt: Some("lines: a line's quantity is blank".into()),
        ..line
    })
}

/// A price written per a number of units ("12,50 €/100 St.", "$21.50 per 1,000", "8,00 je
/// 10 Stück"): the price of one unit, the price divided by that number (never the two
/// numbers run together). `None` when the price is per one unit or per a unit word.
fn price_per(cell: &str, decimal_comma: bool) -> Option<Decimal> {
    re!(
        PER_N,
        r"(?i)^(.*?[0-9].*?)\s*(?:/|\bper\b|\bje\b|\bpro\b|\bpar\b|\bpor\b|\bpour\b|\bfor\b)\s*([0-9][0-9.,' ]*[0-9]|[0-9])\s*(?:\p{L}+\.?)?\s*$"
    );
    let m = rx(&PER_N)?.captures(cell.trim())?;
    let head = m[1].trim();
    let price = parse_decimal(head, decimal_comma)?;
    // The price alone before the sign: one number.
    if super::checks::numbers(head).len() != 1 {
        return None;
    }
    let per = parse_quantity(&m[2], decimal_comma)?;
    if per <= Decimal::ONE || per.fract() != Decimal::ZERO {
        return None;
    }
    price.checked_div(per).map(|d| d.normalize())
}

/// The number of units a price written just before `after` is for, when it is more than one:
/// "… $21.50 per 1,000", "… 12,50 €/100 St.", "… 8,00 € je 10 Stück".
fn per_count(after: &str, decimal_comma: bool) -> Option<Decimal> {
    re!(
        PER_COUNT,
        r"(?i)^\s*(?:[$£€¥]|[A-Z]{3}\b|zł|kr\.?|kč)?\s*(?:/|\bper\b|\bje\b|\bpro\b|\bpar\b|\bpor\b|\bpour\b|\bfor\b)\s*([0-9][0-9.,']*[0-9]|[0-9])(?:\s|$|[^0-9.,])"
    );
    let m = rx(&PER_COUNT)?.captures(after)?;
    let n = parse_quantity(&m[1], decimal_comma)?;
    (n > Decimal::ONE && n.fract() == Decimal::ZERO).then_some(n)
}

/// A line's amount: quantity × unit price, less its discount in percent, to the cent.
pub fn line_amount(quantity: Decimal, unit_price: Decimal, discount: Option<Decimal>) -> Decimal {
    let gross = quantity.checked_mul(unit_price).unwrap_or(MAX_NUMBER);
    match discount {
        Some(d) => gross
            .checked_mul(Decimal::ONE_HUNDRED - d)
            .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
            .unwrap_or(gross)
            .round_dp(2),
        None => gross.round_dp(2),
    }
}

/// Lines from a laid-out table in text (header row, then rows aligned under it).
fn table_lines(
    layout: &Layout,
    ctx: &Ctx,
    facts: &mut Facts,
    doubts: &mut Vec<String>,
) -> Vec<Line> {
    // Every table with a header (a form's table goes on over the next page under its header
    // again); rows are read once.
    let mut all = Vec::new();
    let mut unread = 0;
    let mut lost_codes = false;
    let mut next = 0;
    for (i, header) in layout.cells.iter().enumerate() {
        if i < next {
            continue;
        }
        let split = serial_split(header);
        let header = split.as_ref().unwrap_or(header);
        // Split where the header does not read, or where splitting names more columns
        // ("Ilość | J.m. Cena netto Wartość netto": the prices were one cell).
        let known = |cols: &Option<Columns>| {
            cols.as_ref()
                .map_or(0, |c| c.iter().filter(|c| c.is_some()).count())
        };
        let as_is = header_columns(header, ctx.template);
        let joined = (as_is.is_none() || as_is.as_ref().is_some_and(|c| c.contains(&None)))
            .then(|| split_joined_header(header, ctx.template))
            .flatten()
            .filter(|j| {
                let cols = header_columns(j, ctx.template);
                // Taken over a header that reads only when every piece is named ("Ext. Cost"
                // is one column, not "Ext." and a second "Cost").
                let whole = cols.as_ref().is_some_and(|cols| {
                    j.iter().zip(cols).all(|(c, k)| {
                        k.is_some() || UNUSED_COLUMNS.contains(&column_name(&c.text).as_str())
                    })
                });
                as_is.is_none() || (whole && known(&cols) > known(&as_is))
            });
        let header = joined.as_ref().unwrap_or(header);
        // A header of two rows (an HTML table's merged header cells, copied as text): the
        // two rows as one where that names more columns.
        let stacked = layout
            .lines
            .get(i + 1)
            .and_then(|lower| stacked_tab_header(layout.lines[i], lower))
            .filter(|s| {
                known(&header_columns(s, ctx.template))
                    > known(&header_columns(header, ctx.template))
            });
        let header = stacked.as_ref().unwrap_or(header);
        let Some(cols) = header_columns(header, ctx.template) else {
            continue;
        };
        let body = i + 1 + usize::from(stacked.is_some());
        let material_codes = header
            .iter()
            .zip(&cols)
            .any(|(h, c)| *c == Some("sku") && column_name(&h.text) == "material");
        // "No." beside a description and no code column (Business Central's item number):
        // the item's code where its cells are codes, a serial number where they count.
        let number_col = (!cols.contains(&Some("sku")))
            .then(|| {
                header.iter().zip(&cols).position(|(h, c)| {
                    c.is_none()
                        && ["no", "no.", "nr", "nr.", "nº", "n°"]
                            .contains(&column_name(&h.text).as_str())
                })
            })
            .flatten();
        let mut out: Vec<Line> = Vec::new();
        let mut blanks = 0;
        // The row before was an item read (a code alone under it may be its code).
        let mut just_read = false;
        next = body;
        // Lines of a page break the table goes on after (footer, next page's letterhead).
        let mut skip_until = 0;
        for (row, cs) in layout.lines.iter().zip(&layout.cells).skip(body) {
            next += 1;
            if next - 1 < skip_until {
                continue;
            }
            if row.trim().is_empty() {
                just_read = false;
                blanks += 1;
                if blanks > 2 {
                    match page_continues(layout, next - 1) {
                        Some(at) => skip_until = at,
                        None => break,
                    }
                }
                continue;
            }
            blanks = 0;
            if row.trim().chars().all(|c| "-=_|+ ".contains(c)) {
                continue;
            }
            if cs.first().is_some_and(|c| is_total_row(&c.text)) {
                break;
            }
            // Cells sit under the header they overlap most (or are nearest to).
            let under = |c: &Cell| {
                header
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, h)| {
                        let overlap = c.end.min(h.end) as isize - c.start.max(h.start) as isize;
                        if overlap > 0 {
                            -overlap
                        } else {
                            let d = (c.start as isize - h.start as isize)
                                .abs()
                                .min((c.end as isize - h.end as isize).abs());
                            d + 1
                        }
                    })
                    .map(|(at, _)| at)
            };
            let split;
            let cs = if cs.len() == header.len() {
                cs
            } else if let Some(by_tab) = tab_aligned(layout.lines[i], row, header.len()) {
                split = by_tab;
                &split
            } else {
                split = split_across(&split_at_heads(cs, header, &cols, &under), &under);
                &split
            };
            let columned: Vec<(Option<&str>, &Cell)> = if cs.len() == header.len() {
                cs.iter().zip(&cols).map(|(c, k)| (*k, c)).collect()
            } else {
                cs.iter()
                    .filter_map(|c| Some((cols.get(under(c)?).copied().flatten(), c)))
                    .collect()
            };
            let mut named: Vec<(&str, String)> = columned
                .iter()
                .filter_map(|(k, c)| k.map(|k| (k, c.text.clone())))
                .collect();
            if let Some(at) = number_col {
                let code = if cs.len() == header.len() {
                    cs.get(at)
                } else {
                    cs.iter().find(|c| under(c) == Some(at))
                };
                // A code of capitals with a separator has no digit at times ("LIN-PC-QN").
                let capitals = |t: &str| {
                    t.contains(['-', '_', '.', '/'])
                        && t.chars().any(|c| c.is_ascii_uppercase())
                        && t.chars().all(|c| {
                            c.is_ascii_uppercase() || c.is_ascii_digit() || "-_./".contains(c)
                        })
                };
                match code.map(|c| c.text.trim()) {
                    Some(t) if code_like(t) || capitals(t) => named.push(("sku", t.to_string())),
                    // Something else than a serial number the code column does not read.
                    Some(t) if !t.chars().all(|c| c.is_ascii_digit() || c == '.') => {
                        lost_codes = true;
                    }
                    _ => {}
                }
            }
            // A code under a header no column is known by ("Sl. Item Code" in one cell) is an
            // item's code that would be lost: a person reads the line.
            if !named.iter().any(|(k, _)| *k == "sku")
                && columned
                    .iter()
                    .any(|(k, c)| k.is_none() && code_like(&c.text))
            {
                lost_codes = true;
            }
            // "SKU : NE-ASM-CTC" on the row under an item (Zoho Books writes the code under
            // the name, the unit under the quantity): the code of the line above.
            re!(
                CODE_UNDER,
                r"(?i)^(?:sku|item\s+code|product\s+code|code|part\s+no\.?|art\.?-?nr\.?)\s*[:#]\s*([A-Za-z0-9][A-Za-z0-9._/-]*)$"
            );
            let code_under = cs.first().and_then(|c| {
                let m = rx(&CODE_UNDER)?.captures(c.text.trim())?;
                cs.iter()
                    .skip(1)
                    .all(|c| digits(&c.text) == 0)
                    .then(|| m[1].to_string())
            });
            if let (Some(code), Some(last)) = (&code_under, out.last_mut()) {
                if last.sku.is_none() {
                    last.sku = Some(code.clone());
                }
                continue;
            }
            // A code alone on the row right under an item read without one, under the
            // description (a PDF PO writing each item's code on a second line under its name,
            // in a table with no code column): the code of the line above.
            if !cols.contains(&Some("sku")) && cs.len() == 1 && just_read {
                let t = cs[0].text.trim();
                let capitals = t.contains('-')
                    && t.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
                if (code_like(t) || capitals)
                    && t.chars().any(|c| c.is_ascii_uppercase())
                    && cols.get(under(&cs[0]).unwrap_or(usize::MAX)) == Some(&Some("name"))
                {
                    if let Some(last) = out.last_mut().filter(|l| l.sku.is_none()) {
                        last.sku = Some(t.to_string());
                        just_read = false;
                        continue;
                    }
                }
            }
            just_read = false;
            // A row with its item and price whose quantity cell is blank (left to be written
            // by hand), below a line read: the line, without a quantity, for a person.
            let line = make_line(&named, ctx, 0.9)
                .or_else(|| (!out.is_empty()).then(|| quantityless_line(&named, ctx))?);
            match line {
                // "Material" names an ERP's material number beside a description, but a
                // material ("Madera", "Steel") elsewhere: a value without a digit is no code.
                Some(mut l)
                    if material_codes
                        && l.sku
                            .as_ref()
                            .is_some_and(|s| !s.chars().any(|c| c.is_ascii_digit())) =>
                {
                    l.confidence = l.confidence.min(0.5);
                    l.doubt =
                        Some("lines: the Material column holds a value that is no code".into());
                    out.push(l);
                }
                Some(l) => {
                    out.push(l);
                    just_read = true;
                }
                None if out.is_empty() => continue,
                // A row of the table that cannot be read is a missed line, not the table's end
                // (only a row that is not laid out like one ends it).
                None if cs.len() >= 3 && cs.iter().any(|c| digits(&c.text) > 0) => {
                    unread += 1;
                }
                None => match page_continues(layout, next - 1) {
                    Some(at) => skip_until = at,
                    None => break,
                },
            }
        }
        all.extend(out);
    }
    let _ = facts;
    if unread > 0 && !all.is_empty() {
        doubts.push(format!(
            "lines: {unread} row(s) of the line table could not be read"
        ));
    }
    if lost_codes && !all.is_empty() {
        doubts.push("lines: a column the header does not name holds item codes".into());
    }
    all
}

/// A table header in two rows apart by tabs (`Product⇥⇥Qty⇥Price (excl GST)` over
/// `Code⇥Description⇥⇥Unit⇥Line total`, cells merged across or down in the HTML): each
/// column named by its lower cell, else by the upper one. `None` unless both rows are
/// tab-separated words without digits, the lower with two names or more.
fn stacked_tab_header(upper: &str, lower: &str) -> Option<Vec<Cell>> {
    let fields = |l: &str| -> Vec<String> {
        l.trim_end()
            .split('\t')
            .map(|f| f.trim().to_string())
            .collect()
    };
    let (up, low) = (fields(upper), fields(lower));
    let words = |r: &[String]| {
        r.len() >= 2 && r.iter().all(|f| digits(f) == 0) && r.iter().any(|f| !f.is_empty())
    };
    if !upper.contains('\t')
        || !lower.contains('\t')
        || !words(&up)
        || !words(&low)
        || low.iter().filter(|f| !f.is_empty()).count() < 2
    {
        return None;
    }
    let merged: Vec<Cell> = (0..up.len().max(low.len()))
        .map(|at| {
            let below = low.get(at).map_or("", String::as_str);
            let above = up.get(at).map_or("", String::as_str);
            Cell {
                start: at,
                end: at,
                text: if below.is_empty() { above } else { below }.to_string(),
            }
        })
        .filter(|c| !c.text.is_empty())
        .collect();
    (merged.len() >= 2).then_some(merged)
}

/// A row of an HTML table (its cells apart by tabs) with as many cells as its header, an
/// empty one among them (`Rabatt` left blank on a line without a discount): its cells by
/// their place, the empty one kept, so no cell moves under the next column's header.
fn tab_aligned(header: &str, row: &str, columns: usize) -> Option<Vec<Cell>> {
    let fields = |l: &str| -> Vec<String> { l.split('\t').map(|f| f.trim().to_string()).collect() };
    let (head, cells) = (fields(header), fields(row));
    let whole = head.len() == columns && head.iter().all(|h| !h.is_empty());
    (whole && cells.len() == columns && cells.iter().any(String::is_empty)).then(|| {
        cells
            .into_iter()
            .enumerate()
            .map(|(at, text)| Cell {
                start: at,
                end: at,
                text,
            })
            .collect()
    })
}

/// Where a line table goes on after a page break, its header on the first page only: from
/// line `from` (where the rows stopped), a page mark (`Page 1 of 2`, `Side 1 af 2`, `Pagina 1
/// din 2`, `1/2`) within a few lines, then the first line below it laid out like the table's
/// last row (as many cells, with a number); the lines between are the footer and the next
/// page's letterhead. `None` when the rows do not stop at a page break.
fn page_continues(layout: &Layout, from: usize) -> Option<usize> {
    re!(
        PAGE_MARK,
        r"(?i)^\s*(?:-\s*)?(?:page|seite|side|sida|sivu|pagina|página|strona|strana|stránka|oldal|σελίδα|сторінка|страница|lapas|puslapis|leht)?\s*([0-9]{1,3})\s*(?:/|of|von|af|av|din|de|di|z|из|з|van|sur|iš|no)\s*([0-9]{1,3})\s*(?:-\s*)?$"
    );
    let row_like = |k: usize| {
        layout.cells.get(k).is_some_and(|c| c.len() >= 3)
            && layout.lines.get(k).is_some_and(|l| digits(l) > 0)
    };
    let last = (from.saturating_sub(6)..from)
        .rev()
        .find(|&k| row_like(k))?;
    let width = layout.cells.get(last)?.len();
    let mark = (from..(from + 12).min(layout.lines.len())).find(|&k| {
        rx(&PAGE_MARK)
            .and_then(|r| r.captures(layout.lines[k].trim()))
            .is_some_and(|m| {
                let n = |g: usize| m.get(g).and_then(|x| x.as_str().parse::<u32>().ok());
                n(1).zip(n(2)).is_some_and(|(page, of)| page < of)
            })
    })?;
    (mark + 1..(mark + 16).min(layout.lines.len()))
        .find(|&k| row_like(k) && layout.cells[k].len() == width)
}

/// Words a serial-number column is headed by (`Sl.`, `S.No.`, `Sr.`, `#`).
const SERIAL_HEADS: &[&str] = &[
    "lp.",
    "lp",
    "sl.",
    "sl",
    "s.no.",
    "s.no",
    "sno",
    "sr.",
    "sr",
    "sr.no.",
    "no.",
    "#",
    "pos.",
    "pos",
    "क्र.",
    "р.бр.",
];

/// A header whose first cell is a serial-number word and the next column's name written one
/// space apart ("Sl. Item Code"): the cells with that one split in two, so that the rows'
/// cells (`1`, `BR-25KG`) sit under their own names. `None` when there is nothing to split.
fn serial_split(header: &[Cell]) -> Option<Vec<Cell>> {
    let first = header.first()?;
    let (word, rest) = first.text.split_once(' ')?;
    let rest = rest.trim();
    if !SERIAL_HEADS.contains(&word.to_lowercase().as_str())
        || !rest.starts_with(char::is_alphanumeric)
    {
        return None;
    }
    let word_width = word.chars().map(width).sum::<usize>();
    let mut out = vec![
        Cell {
            start: first.start,
            end: first.start + word_width,
            text: word.to_string(),
        },
        Cell {
            start: first
                .end
                .saturating_sub(rest.chars().map(width).sum::<usize>()),
            end: first.end,
            text: rest.to_string(),
        },
    ];
    out.extend(header[1..].iter().map(|c| Cell {
        start: c.start,
        end: c.end,
        text: c.text.clone(),
    }));
    Some(out)
}

/// Whether a cell reads as an item code: one word of letters and digits (`BR-25KG`, `A12`).
fn code_like(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && !t.contains(char::is_whitespace)
        && t.chars().any(|c| c.is_ascii_digit())
        && t.chars().any(|c| c.is_ascii_alphabetic())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

/// Rows of an item table typed without a header: the code, the name, the quantity and the
/// unit price with its currency, in columns two spaces apart or more (`EMT-050-10   1/2" EMT
/// conduit, 10 ft     40  $4.18`), perhaps the line's amount after the price. Read only as a
/// run of two rows or more one under the other, each reading whole; an amount that is not
/// quantity × price puts the line in doubt.
fn column_items(lines: &[&str], ctx: &Ctx) -> Vec<(usize, Line)> {
    re!(
        ITEM_COLUMNS,
        r"^\s*(\S+)(?:\s{2,}|\t)(\S.*?\S)(?:\s{2,}|\t)\s*([0-9]{1,5})(?:\s+|\t)((?:US|C|A|NZ)?\$|[£€]|USD|EUR|GBP|CAD|AUD|CHF)\s?([0-9][0-9.,]*)(?:(?:\s+|\t)((?:US|C|A|NZ)?\$|[£€]|USD|EUR|GBP|CAD|AUD|CHF)\s?([0-9][0-9.,]*))?\s*$"
    );
    let Some(re) = rx(&ITEM_COLUMNS) else {
        return Vec::new();
    };
    let dc = ctx.decimal_comma();
    let row = |line: &str| -> Option<Line> {
        let m = re.captures(line)?;
        if !code_like(&m[1]) || !m[1].contains(['-', '_', '.', '/']) {
            return None;
        }
        let quantity = parse_quantity(&m[3], dc)?;
        let unit_price = parse_decimal(&m[5], dc)?;
        let amount = m.get(7).and_then(|a| parse_decimal(a.as_str(), dc));
        let wrong = amount.is_some_and(|a| {
            (line_amount(quantity, unit_price, None) - a).abs() > Decimal::new(1, 2)
        });
        Some(Line {
            sku: Some(m[1].to_string()),
            name: Some(m[2].trim().to_string()),
            spec: None,
            quantity: Some(quantity),
            unit_price: Some(unit_price),
            confidence: if wrong { 0.5 } else { 0.85 * ctx.trust },
            doubt: wrong
                .then(|| "lines: a line's quantity × unit price is not its amount".to_string()),
            discount: None,
        })
    };
    let rows: Vec<Option<Line>> = lines.iter().map(|l| row(l)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let run = rows[i..].iter().take_while(|r| r.is_some()).count();
        if run >= 2 {
            out.extend((i..i + run).filter_map(|j| Some((j, rows[j].clone()?))));
        }
        i += run.max(1);
    }
    out
}

// An item's code named by a word: "code PAP-A4-80", "SKU: TON-2420", "Art.-Nr. 4711",
// "Art. 30412" (the article's number, Austrian and German lists; [`code_word`] reads "Art."
// alone only before a number).
re!(
    CODE_WORD,
    r#"(?i)(?:^|[\s,;(，；（　])(?:编码|編碼|编号|編號|货号|貨號|型号|型號|料号|料號|品番|item\s*code|product\s*code|code|sku|item\s*(?:no\.?|#)|part\s*(?:no\.?|#)|cat\.?\s*(?:no\.?|#)|art\.?-?nr\.?|art\.|artikelnummer|artikelnr\.?|varenr\.?|varenummer|réf\.?|ref\.?|cod\.?|código|codice|kód|kod|kode|šifra|код|шифра|מק"ט|מק״ט)\s*[:#：]?\s*([A-Za-z0-9][A-Za-z0-9._/-]*[A-Za-z0-9])"#
);

/// A code named by its word (`art.nr. KB-ESP-1000`, `ref: X-1`, `SKU 4711`): the word ends
/// before the code (`refuse sacks` names no code).
fn code_word(text: &str) -> Option<regex::Captures<'_>> {
    // "— item MS-AR-4L —": "item" names a code only before one of a code's form (letters and
    // digits joined by a separator); "item 3 of the list" names none.
    re!(
        ITEM_WORD,
        r"(?i)(?:^|[\s,;(])item\s*[:#]?\s*([A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)+)(?:$|[\s,;)])"
    );
    rx(&CODE_WORD)?
        .captures_iter(text)
        .find(|m| {
            m.get(1).is_some_and(|code| {
                // "编码DB-PX-5": a Chinese code word is written against the code.
                !text[..code.start()]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphabetic() && !has_cjk(&c.to_string()))
                    && (code.as_str().starts_with(|c: char| c.is_ascii_digit())
                        || !bare_art_word(&text[m.get(0).map_or(0, |w| w.start())..code.start()]))
            })
        })
        .or_else(|| {
            // Gated by a plain test, and only in an item's text (a line, not a whole page).
            if text.len() > 400 || !contains_ci(text, "item") {
                return None;
            }
            rx(&ITEM_WORD)?.captures_iter(text).find(|m| {
                m.get(1).is_some_and(|code| {
                    let c = code.as_str();
                    c.chars().any(|x| x.is_ascii_alphabetic())
                        && c.chars().any(|x| x.is_ascii_digit())
                })
            })
        })
}

/// Whether the word before a code (as [`CODE_WORD`] matched it) is "Art." alone, the
/// article's abbreviation, which names a code only before a number ("Art. 30412"; "art.
/// supplies" names none).
fn bare_art_word(word: &str) -> bool {
    word.trim_start_matches([' ', ',', ';', '(', '，', '；', '（'])
        .trim_end_matches([' ', ':', '#'])
        .eq_ignore_ascii_case("art.")
}

/// Lines written as bullets: `- 3 x Huila Washed, 1 kg (HUI-1KG-WB) @ $38.50`.
fn bullet_lines(lines: &[&str], ctx: &Ctx, facts: &mut Facts) -> Vec<(usize, Line)> {
    let mut out = Vec::new();
    // Items that lead with their code: one whose code has no digit ("NHS-M") leads with it too.
    let coded = lines
        .iter()
        .filter_map(|l| bullet(l))
        .filter(|m| m.get(3).is_none() && code_lead(m[2].trim()).is_some())
        .count();
    let bracketed = bracketed_code_lines(lines);
    for (i, line) in lines.iter().enumerate() {
        let Some(m) = bullet(line) else {
            continue;
        };
        let dc = ctx.decimal_comma();
        let quantity = parse_quantity(&m[1], dc);
        let unit_price = parse_decimal(&m[5], dc).map(|p| {
            let after = m.get(5).map_or("", |g| &line[g.end()..]);
            per_count(after, dc)
                .and_then(|n| p.checked_div(n))
                .map_or(p, |d| d.normalize())
        });
        // `$` alone names no currency until the country says whose dollar it is.
        let mark = m.get(4).map_or("", |c| c.as_str()).trim();
        if let Some(cur) = Some(mark).filter(|m| *m != "$").and_then(currency_of) {
            ctx.put(
                facts,
                "currency",
                Some(cur.into()),
                if cur == "USD" { 0.6 } else { 0.8 },
            );
        }
        let mut name = m[2].trim().trim_end_matches([',', '-']).trim().to_string();
        if let Some((_, rest)) = unit_before_code_label(&name) {
            name = rest;
        }
        let mut sku = m.get(3).map(|s| s.as_str().to_string());
        // A code leading the name ("2 stk. KF-901 Julekaffe à 245,00 kr."), as in a list item.
        if sku.is_none() {
            let lead =
                code_lead(&name).or_else(|| (coded >= 2).then(|| letter_code_lead(&name))?);
            if let Some((code, rest)) = lead {
                sku = Some(code.to_string());
                name = rest.to_string();
            }
        }
        // A code named by its word after the name ("Koffiebonen 1 kg, art.nr. KB-ESP-1000,"),
        // with a digit in it: the code, not part of the name.
        if sku.is_none() {
            let worded = code_word(&name).and_then(|m| {
                let code = m.get(1)?;
                let whole = m.get(0)?.range();
                // Before the name ("Art.-Nr. 40-1187 Kabelbinder …") or after it.
                let named = whole.start > 0 || !name[whole.end..].trim().is_empty();
                (code.as_str().chars().any(|c| c.is_ascii_digit()) && named)
                    .then(|| (code.as_str().to_string(), whole))
            });
            if let Some((code, whole)) = worded {
                name.replace_range(whole, " ");
                name = name.split_whitespace().collect::<Vec<_>>().join(" ");
                name = name
                    .replace(" ,", ",")
                    .trim()
                    .trim_end_matches([',', '-', ';'])
                    .trim()
                    .to_string();
                sku = Some(code);
            }
        }
        // A code in its own column after the name ("Floral foam (case of 48)   FF-48").
        if sku.is_none() {
            if let Some((head, code)) = name.rsplit_once("  ").or_else(|| name.rsplit_once('\t')) {
                let code = code.trim();
                let codey = !code.contains(' ')
                    && code.chars().any(|c| c.is_ascii_digit())
                    && code.chars().any(|c| c.is_ascii_alphabetic())
                    && code
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
                if codey && !head.trim().is_empty() {
                    sku = Some(code.to_string());
                    name = head.trim().trim_end_matches([',', '-']).trim().to_string();
                }
            }
        }
        // "2x Drinking chocolate 1kg CH-PWD-1K @ 24.50" among items with bracketed codes: a
        // code of capitals that ends the name unbracketed.
        if sku.is_none() && bracketed >= 2 {
            if let Some((at, code)) = trailing_capital_code(&name) {
                sku = Some(code);
                name = name[..at]
                    .trim()
                    .trim_end_matches([',', '-'])
                    .trim()
                    .to_string();
            }
        }
        let doubt = leftover_code(&name)
            .then(|| "lines: an item's name could not be told from its code".to_string());
        out.push((
            i,
            Line {
                name: Some(name).filter(|n| !n.is_empty()),
                spec: None,
                quantity,
                unit_price,
                confidence: if doubt.is_some() {
                    0.5
                } else {
                    (if sku.is_some() { 0.9 } else { 0.8 } * ctx.trust).clamp(0.0, 1.0)
                },
                sku,
                doubt,
                discount: None,
            },
        ));
    }
    out
}

/// Lines from a CSV attachment: header row by column names, blank and total rows skipped.
pub fn csv_lines(bytes: &[u8], ctx: &Ctx, facts: &mut Facts) -> Result<Vec<Line>, String> {
    let rows = csv_rows(bytes, None)?;
    grid_lines(&rows, ctx, facts, 30).map_err(|why| format!("CSV attachment {why}"))
}

/// A flat export (an accounting system's order lines, one row each, with the order's own
/// fields repeated on every row: `Indkøbsordre;Ordredato;Leveringsnavn;…;Varenr.;Antal;…`):
/// the rows without those fields' columns, and the fields as the text an order would write
/// them in (`Indkøbsordre: IO-2026-0931`, the delivery fields from the first one a delivery
/// heading names as an address block, a bare postcode on the line of the city after it).
/// A column is the order's when no line column is named by its header and every row holds
/// the same value. `None` unless the header names no table without them and does with them
/// gone, and at least two rows repeat them.
pub fn flat_export(
    rows: &[Vec<String>],
    template: Option<&Template>,
) -> Option<(Vec<Vec<String>>, String)> {
    let mut non_blank = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.iter().all(|c| c.trim().is_empty()));
    let (at, header) = non_blank.next()?;
    let data: Vec<&Vec<String>> = non_blank.map(|(_, r)| r).take(10_000).collect();
    if data.len() < 2 || header.len() > 60 {
        return None;
    }
    if header_columns(&grid_cells(header), template).is_some() {
        return None;
    }
    let line_column = |h: &str| {
        let n = column_name(h);
        UNUSED_COLUMNS.contains(&n.as_str())
            || super::template::COLUMNS
                .iter()
                .any(|c| names_column(&n, c, template))
    };
    let order_level: Vec<usize> = (0..header.len())
        .filter(|&i| {
            let value = data[0].get(i).map_or("", |v| v.trim());
            !header[i].trim().is_empty()
                && !line_column(&header[i])
                && !value.is_empty()
                && data
                    .iter()
                    .all(|r| r.get(i).map_or("", |v| v.trim()) == value)
        })
        .collect();
    if order_level.len() < 2 {
        return None;
    }
    let keep = |r: &Vec<String>| -> Vec<String> {
        r.iter()
            .enumerate()
            .filter(|(i, _)| !order_level.contains(i))
            .map(|(_, c)| c.clone())
            .collect()
    };
    let reduced: Vec<Vec<String>> = rows[at..].iter().map(keep).collect();
    header_columns(&grid_cells(&reduced[0]), template)?;
    let value = |i: usize| data[0][i].trim().to_string();
    let delivery = order_level
        .iter()
        .position(|&i| address_heading(&header[i]) == Some(true));
    // Only the columns that follow one another from the first delivery field.
    let mut run: Vec<usize> = Vec::new();
    if let Some(from) = delivery {
        run.push(order_level[from]);
        for &i in &order_level[from + 1..] {
            if i != run[run.len() - 1] + 1 {
                break;
            }
            run.push(i);
        }
    }
    let mut text = String::new();
    for &i in order_level.iter().filter(|i| !run.contains(i)) {
        text.push_str(&format!("{}: {}\n", header[i].trim(), value(i)));
    }
    // A currency column ("Valuta": DKK on every row) names the order's currency.
    for (i, h) in header.iter().enumerate() {
        let v = data[0].get(i).map_or("", |v| v.trim());
        if !order_level.contains(&i)
            && builtin_labels("currency").contains(&column_name(h).as_str())
            && !v.is_empty()
            && data.iter().all(|r| r.get(i).map_or("", |c| c.trim()) == v)
        {
            text.push_str(&format!("{}: {v}\n", h.trim()));
        }
    }
    if let Some(&first) = run.first() {
        text.push_str(&format!("\n{}:\n", header[first].trim()));
        let mut k = 0;
        while k < run.len() {
            let v = value(run[k]);
            // "8000" then "Aarhus C": a postcode column before the city's, one line.
            let postcode = v.len() <= 8
                && v.chars().any(|c| c.is_ascii_digit())
                && !v.contains(char::is_whitespace)
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if postcode && k + 1 < run.len() {
                text.push_str(&format!("{v} {}\n", value(run[k + 1])));
                k += 2;
            } else {
                text.push_str(&v);
                text.push('\n');
                k += 1;
            }
        }
    }
    Some((reduced, text))
}

/// The rows of a CSV attachment (comma, semicolon or tab separated, as its first row shows).
pub fn csv_rows(bytes: &[u8], charset: Option<&str>) -> Result<Vec<Vec<String>>, String> {
    let text = csv_text(bytes, charset);
    if text.contains('\u{FFFD}') {
        return Err("CSV attachment is not readable in its charset".into());
    }
    let text = text.trim_start_matches('\u{FEFF}');
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first.matches(*d as char).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        if n > 10_000 {
            return Err("CSV attachment has more than 10000 rows".into());
        }
        let record = record.map_err(|e| format!("CSV attachment: {e}"))?;
        rows.push(record.iter().map(|s| s.trim().to_string()).collect());
    }
    Ok(rows)
}

/// The Windows code page a file that declares no charset and is not UTF-8 is most likely
/// written in, told by the letters beyond ASCII that `sample` (the message's own text, in the
/// same language) uses: the code page that has the most of them (Turkish `ş ı ğ` are only in
/// windows-1254, Czech `ř ů` in windows-1250, Thai in windows-874), windows-1252 when several
/// have as many. `None` when the sample has no such letters.
pub fn legacy_code_page(sample: &str) -> Option<&'static encoding_rs::Encoding> {
    use encoding_rs::*;
    let mut letters: Vec<char> = sample
        .chars()
        .filter(|c| !c.is_ascii() && c.is_alphabetic())
        .collect();
    letters.sort_unstable();
    letters.dedup();
    if letters.is_empty() {
        return None;
    }
    let pages = [
        WINDOWS_1252,
        WINDOWS_1250,
        WINDOWS_1251,
        WINDOWS_1253,
        WINDOWS_1254,
        WINDOWS_1255,
        WINDOWS_1256,
        WINDOWS_1257,
        WINDOWS_1258,
        WINDOWS_874,
    ];
    let mut best = (0, WINDOWS_1252);
    for page in pages {
        let mut buf = [0u8; 4];
        let known = letters
            .iter()
            .filter(|c| !page.encode(c.encode_utf8(&mut buf)).2)
            .count();
        if known > best.0 {
            best = (known, page);
        }
    }
    (best.0 > 0).then_some(best.1)
}

/// The text of a CSV file in the charset spreadsheets write: a byte-order mark says UTF-8 or
/// UTF-16; without one, UTF-8 when it is valid, else the `charset` the file or its message
/// declares (Excel exports in the system's code page: windows-1251 in Ukraine), else
/// Windows-1252 (what Excel exports in Western Europe, `é` as one byte).
pub fn csv_text(bytes: &[u8], charset: Option<&str>) -> String {
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(bytes) {
        return encoding.decode_with_bom_removal(bytes).0.into_owned();
    }
    if let Ok(t) = std::str::from_utf8(bytes) {
        return t.to_string();
    }
    let declared = charset
        .and_then(|c| encoding_rs::Encoding::for_label(c.trim().as_bytes()))
        // A declared UTF-8 or UTF-16 the bytes are not in says nothing of their code page.
        .filter(|e| e.output_encoding() != encoding_rs::UTF_8);
    declared
        .unwrap_or(encoding_rs::WINDOWS_1252)
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

/// Where the header row of a table of lines is among the first `within` non-blank rows (as
/// [`grid_lines`] finds it), if there is one.
pub fn grid_header_at(rows: &[Vec<String>], ctx: &Ctx, within: usize) -> Option<usize> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| !r.iter().all(|c| c.trim().is_empty()))
        .take(within)
        .find(|(i, row)| {
            let cs = grid_cells(row);
            two_row_header(&cs, rows.get(i + 1), ctx.template).is_some()
                || header_columns(&cs, ctx.template).is_some()
        })
        .map(|(i, _)| i)
}

/// Lines from rows of cells (a CSV file, a spreadsheet): the header row is the first non-blank
/// row that names a quantity column, looked for among the first `header_within` non-blank rows
/// (a spreadsheet often has a title or the buyer's details above the table); blank rows and
/// total rows (no item code) are not lines. The error completes "… attachment".
pub fn grid_lines(
    rows: &[Vec<String>],
    ctx: &Ctx,
    facts: &mut Facts,
    header_within: usize,
) -> Result<Vec<Line>, String> {
    let mut non_blank = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.iter().all(|c| c.trim().is_empty()));
    let (at, cols) = non_blank
        .by_ref()
        .take(header_within)
        .find_map(|(i, row)| {
            let cs = grid_cells(row);
            // A group row over the real header (merged cells "Termék", "Ár (Ft, bruttó)"
            // above "Cikkszám", "Megnevezés", "Egységár"): the two read as one header.
            if let Some((merged, cols, currency)) =
                two_row_header(&cs, rows.get(i + 1), ctx.template)
            {
                ctx.put(facts, "currency", currency.map(String::from), 0.9);
                return Some((i + 1, merged, cols));
            }
            header_columns(&cs, ctx.template).map(|cols| (i, cs, cols))
        })
        .map(|(i, cs, cols)| {
            for (c, col) in cs.iter().zip(&cols) {
                let lower = c.text.to_lowercase();
                // "Ціна, грн", "Cena, EUR": a price column's currency after its name.
                if matches!(col, Some("unit_price" | "amount")) {
                    let last = lower.rsplit([',', ' ']).next().unwrap_or("");
                    let cur = (last.len() < lower.len())
                        .then(|| currency_of(last))
                        .flatten();
                    ctx.put(facts, "currency", cur.map(String::from), 0.9);
                }
                for code in ["usd", "gbp", "eur", "cny", "rmb", "hkd", "twd"] {
                    if lower.ends_with(code) || lower.contains(&format!("({code})")) {
                        let cur = currency_of(code).map(String::from);
                        ctx.put(facts, "currency", cur, 0.9);
                    }
                }
                // "Preț unitar (lei)", "Rate (₹)": a currency named in brackets.
                ctx.put(
                    facts,
                    "currency",
                    bracketed_currency(&c.text).map(String::from),
                    0.9,
                );
                // "Price/Unit £", "PU CHF", "Vlr. (R$)".
                ctx.put(
                    facts,
                    "currency",
                    currency_mark(&c.text).map(String::from),
                    0.85,
                );
            }
            (i, cols)
        })
        .ok_or("has no header row naming a quantity column")?;
    // Money cells written with their currency ("R$ 18,90", "4,10 €").
    for row in rows.iter().skip(at + 1).take(50) {
        for (c, k) in row.iter().zip(&cols) {
            if matches!(k, Some("unit_price") | Some("amount")) {
                ctx.put(facts, "currency", currency_mark(c).map(String::from), 0.85);
            }
        }
    }
    let mut out = Vec::new();
    for row in rows.iter().skip(at + 1) {
        let row: Vec<&str> = row.iter().map(|c| c.trim()).collect();
        if row.iter().all(|c| c.is_empty()) {
            continue;
        }
        // "Gesamtbetrag EUR", "Total GBP": a currency's code in a total's label is the
        // order's currency.
        if let Some(label) = row.iter().find(|c| !c.is_empty()) {
            let code = label
                .split_whitespace()
                .next_back()
                .map(|w| w.trim_matches(['(', ')', ':']))
                .filter(|w| w.len() == 3 && w.chars().all(|c| c.is_ascii_uppercase()))
                .and_then(currency_of);
            if code.is_some()
                && super::checks::row_kind(label) == Some(super::checks::RowKind::Total)
            {
                ctx.put(facts, "currency", code.map(String::from), 0.9);
            }
        }
        if row.iter().any(|c| is_total_row(c))
            && !row
                .iter()
                .zip(&cols)
                .any(|(c, k)| *k == Some("sku") && !c.is_empty() && !is_total_row(c))
        {
            // The grand total row states the order total: its last number.
            if row
                .iter()
                .find(|c| !c.is_empty())
                .is_some_and(|c| is_grand_total(c))
            {
                let amount = row
                    .iter()
                    .rev()
                    .find_map(|c| parse_decimal(c, ctx.decimal_comma()));
                ctx.put(facts, "total", amount.map(|d| d.to_string()), 0.85);
            }
            continue;
        }
        let named: Vec<(&str, String)> = row
            .iter()
            .zip(&cols)
            .filter_map(|(c, k)| k.map(|k| (k, (*c).to_string())))
            .collect();
        // A freight row inside the item table ("FRT,Freight,ea,1,35.00"): shipping, no line,
        // when it reads as a charge: one of it at most, and no item code (a code with a
        // digit). An item so named ("PT-10,Port,6,12.50", a wine) counted more than once
        // and coded is a line; a row that is one but not the other is a line in doubt.
        if named
            .iter()
            .any(|(k, v)| *k == "name" && super::checks::shipping_charge(v))
        {
            let cell = |key: &str| {
                named
                    .iter()
                    .find(|(k, v)| *k == key && !v.trim().is_empty())
                    .map(|(_, v)| v.as_str())
            };
            let coded = cell("sku").is_some_and(|c| c.chars().any(|d| d.is_ascii_digit()));
            let counted = cell("quantity")
                .and_then(|q| parse_quantity(q, ctx.decimal_comma()))
                .is_some_and(|q| q > Decimal::ONE);
            if !coded && !counted {
                continue;
            }
            if let Some(mut line) = make_line(&named, ctx, 0.95) {
                if !(coded && counted) {
                    line.doubt = Some(
                        "lines: a row named as a shipping charge may be a charge or an item"
                            .to_string(),
                    );
                    line.confidence = line.confidence.min(0.5);
                }
                out.push(line);
            }
            continue;
        }
        if let Some(line) = make_line(&named, ctx, 0.95) {
            out.push(line);
        }
    }
    Ok(out)
}

/// A header's columns by cell ([`header_columns`]).
type Columns = Vec<Option<&'static str>>;

/// A sheet's header written in two rows, a group row (merged cells) over the real header:
/// each column named by the lower row's cell, else the group row's. Taken when it names more
/// columns than either row alone and neither row has a number in it (headers, not a title
/// with a reference or a line). Returns the cells, their columns and a currency the group row names in brackets
/// ("Ár (Ft, bruttó)").
fn two_row_header(
    upper: &[Cell],
    lower: Option<&Vec<String>>,
    template: Option<&Template>,
) -> Option<(Vec<Cell>, Columns, Option<&'static str>)> {
    let lower = lower?;
    if lower.iter().all(|c| c.trim().is_empty())
        || lower.iter().any(|c| digits(c) > 0)
        || upper.iter().any(|c| digits(&c.text) > 0)
    {
        return None;
    }
    let merged: Vec<Cell> = (0..upper.len().max(lower.len()))
        .map(|i| {
            let below = lower.get(i).map_or("", |c| c.trim());
            let above = upper.get(i).map_or("", |c| c.text.as_str());
            Cell {
                start: 0,
                end: 0,
                text: if below.is_empty() { above } else { below }.to_string(),
            }
        })
        .collect();
    let cols = header_columns(&merged, template)?;
    let count = |c: &[Option<&str>]| c.iter().filter(|k| k.is_some()).count();
    let lower_cells = grid_cells(lower);
    // Either row alone as good a header: that row is the header.
    let alone = [upper, lower_cells.as_slice()]
        .iter()
        .map(|r| header_columns(r, template).map_or(0, |c| count(&c)))
        .max()
        .unwrap_or(0);
    if count(&cols) <= alone {
        return None;
    }
    let currency = upper.iter().find_map(|c| {
        let open = c.text.find(['(', '（'])?;
        c.text[open..]
            .split(|ch: char| ch.is_whitespace() || "()（）,;/".contains(ch))
            .find_map(currency_of)
    });
    Some((merged, cols, currency))
}

/// Words that name an order reference when a value follows them, labelled (`Bestellnummer:`,
/// `Order No.`, `注文番号：`) or bare (`Order 4711`, `Pedido FP-8812`, less sure).
const REFERENCE_WORDS: &[&str] = &[
    "order",
    "po",
    "p.o.",
    "purchase order",
    "bestellung",
    "auftrag",
    "commande",
    "bon de commande",
    "pedido",
    "encomenda",
    "bestelling",
    "ordine",
    "bestilling",
    "beställning",
    "zamówienie",
    "objednávka",
    "ご注文",
    "注文書",
    "采购订单",
    "採購訂單",
    "订购单",
    "訂購單",
    "订单",
    "訂單",
    "tilaus",
    "παραγγελία",
    "sipariş",
    "megrendelés",
    "rendelés",
    "주문",
    "발주",
    "comandă",
    "comanda",
    "tellimus",
    "pasūtījums",
    "pasūtījumu",
    "narudžba",
    "narudžbu",
    "objednávku",
    "замовлення",
    "заказ",
    "pesanan",
    "הזמנת רכש",
    "הזמנה",
    // Icelandic, Lithuanian, Albanian, Slovenian, Turkish, Vietnamese, Thai, and Spanish
    // "orden de compra" (written `OC`).
    "pöntun",
    "užsakymas",
    "užsakymą",
    "užsakymo",
    "porosia",
    "porosinë",
    "porosi",
    "naročilnica",
    "naročilo",
    "sipariş fişi",
    "đơn đặt hàng",
    "đơn hàng",
    "ใบสั่งซื้อ",
    "orden de compra",
    "oc",
    // Bulgarian, Serbian (Cyrillic and Latin), Swahili, Hindi.
    "поръчка",
    "поръчката",
    "наруџбеница",
    "наруџбеницу",
    "наруџбенице",
    "поруџбина",
    "поруџбину",
    "narudžbenica",
    "narudžbenicu",
    "porudžbina",
    "porudžbinu",
    "क्रय आदेश",
    "ऑर्डर",
];

/// Marks between a reference word and its value that make it a label (`No.`, `Nr.`, `n°`, `#`).
const NUMBER_MARKS: &[&str] = &[
    "is",
    "ist",
    "est",
    "es",
    "number",
    "numero",
    "número",
    "nummer",
    "no.",
    "no",
    "nr.",
    "nr",
    "n°",
    "nº",
    "n.º",
    "n.",
    "#",
    "ref.",
    "ref",
    "reference",
    "réf.",
    "réf",
    "num.",
    "núm.",
    "№",
    "č.",
    "br.",
    "מס'",
    "מס׳",
    "מספר",
    "št.",
    "št",
    "nro",
    "nro.",
    "số",
    "бр.",
    "бр",
    "संख्या",
    "सं.",
    // Greek "Αρ." / "Αριθ." (αριθμός).
    "αριθμός",
    "αριθμος",
    "αριθ.",
    "αρ.",
];

/// Order-reference candidates in `text`, each with its confidence: a label from the template
/// or the built-in list followed by a value with a digit in it (`Bestellnummer: BV-25-1107`,
/// `Commande n° CB-3302`, `PO #2219`), or a bare order word followed by one (`Order 4711`).
fn reference_candidates(text: &str, ctx: &Ctx) -> Vec<(String, f64)> {
    let custom: Vec<String> = ctx
        .template
        .map(|t| {
            t.labels("external_id")
                .iter()
                .map(|l| l.to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    let all: Vec<&str> = text.lines().collect();
    for (n, line) in all.iter().enumerate() {
        let line = *line;
        // Greek capitals drop their accents ("ΠΑΡΑΓΓΕΛΙΑ" is "παραγγελία"): Greek is compared
        // without them (each the same length in bytes).
        let lower = super::checks::greek_unaccented(&lower_same_len(line));
        // A bare order word ("Pedido", "PO") is a label only with a mark or colon after it.
        let labels = || {
            custom
                .iter()
                .map(|l| (l.as_str(), true))
                .chain(
                    builtin_labels("external_id")
                        .iter()
                        .map(|l| (*l, !REFERENCE_WORDS.contains(l))),
                )
                .chain(REFERENCE_WORDS.iter().map(|l| (*l, false)))
        };
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        // A label stands as a word.
        let whole = |label: &str, at: usize| {
            let end = at + label.len();
            !label.is_ascii()
                || !(word(lower[..at].chars().next_back()) || word(lower[end..].chars().next()))
        };
        for (label, labelled) in labels() {
            let unaccented = super::checks::greek_unaccented(label);
            for (at, _) in lower.match_indices(unaccented.as_str()) {
                let end = at + label.len();
                if !whole(label, at) {
                    continue;
                }
                // "votre commande n° BC-332", "your order 4711": an order of the one the
                // message is written to (an invoice reminder, a supplier's notice), not one
                // the sender places.
                if yours(&lower[..at]) || repeated(&lower[..at]) || other_document(&lower[..at]) {
                    continue;
                }
                // "Your order no.:" heading a form's field is the order the form asks for;
                // inside a sentence ("… about your order no. 4711 …") it is the recipient's.
                let possessive = label
                    .split_whitespace()
                    .next()
                    .is_some_and(|w| yours(&format!(" {w}")));
                if possessive && !lower[..at].trim().is_empty() {
                    continue;
                }
                // A form's field heading with its value below it ("Purchase Order Number"
                // over "PO-0087"): what stands far to its right is another column's.
                // A web form's note after the field's name ("PO number (optional): …").
                let end = FIELD_NOTES
                    .iter()
                    .find_map(|note| {
                        let rest = &lower[end..];
                        let skipped = rest.len() - rest.trim_start().len();
                        rest.trim_start()
                            .starts_with(note)
                            .then(|| end + skipped + note.len())
                    })
                    .unwrap_or(end);
                let value_below = below_label(line, at, end, all.get(n + 1).copied());
                let read = value_below
                    .as_deref()
                    .map_or_else(|| reference_value(&line[end..]), reference_value);
                if let Some((value, marked)) = read {
                    let marked = marked || value_below.is_some();
                    if !(labelled || marked || bare_reference(&value, &line[end..])) {
                        continue;
                    }
                    let c = if labelled || marked { 0.95 } else { 0.8 };
                    let known = out.len();
                    match out.iter_mut().find(|(v, _)| *v == value) {
                        Some(seen) => seen.1 = f64::max(seen.1, c),
                        // An order names a reference once or twice; a text naming dozens
                        // is not read further (it is in doubt already).
                        None if known < 16 => out.push((value, c)),
                        None => return out,
                    }
                }
            }
        }
    }
    out
}

/// The text under a label that ends its cell (three spaces or more, or the line's end, after
/// it): the next line's cell that starts at the label's column, when one does.
fn below_label(line: &str, at: usize, end: usize, next: Option<&str>) -> Option<String> {
    // The label's own number word ("Purchase Order Number") is a part of it.
    let word_end = line[end..]
        .find(|c: char| !c.is_whitespace())
        .map(|s| {
            let w = &line[end + s..];
            end + s + w.find(char::is_whitespace).unwrap_or(w.len())
        })
        .unwrap_or(end);
    let end = if NUMBER_MARKS
        .iter()
        .any(|m| m.len() > 2 && line[end..word_end].trim().eq_ignore_ascii_case(m))
    {
        word_end
    } else {
        end
    };
    let rest = &line[end..];
    let gap = rest.len() - rest.trim_start().len();
    if !(rest.trim().is_empty() || gap >= 3) || rest.trim_start().starts_with([':', '：', '#']) {
        return None;
    }
    let (col, col_end) = (line[..at].chars().count(), line[..end].chars().count());
    // The next line's cells (apart by two spaces or more) with their columns: the one under
    // the label, starting at most a few columns before it.
    let chars: Vec<char> = next?.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !(chars[i] == ' ' && chars.get(i + 1).is_none_or(|c| *c == ' ')) {
            i += 1;
        }
        if start < col_end && (i > col || start + 10 >= col) {
            // Only a reference there is the label's value (a label stacked below it, "Order
            // Date", leaves the value to its right).
            let cell: String = chars[start..i].iter().collect();
            return (start + 10 >= col && reference_value(&cell).is_some()).then_some(cell);
        }
    }
    None
}

/// Whether the text before an order reference says the order is one to be repeated ("the
/// same as PO 4411", "wie Bestellung 118", "comme la commande 2203"): an earlier order, not
/// the one the message places.
fn repeated(before: &str) -> bool {
    const SAME: &[&str] = &[
        "same as",
        "as per",
        "repeat of",
        "repeat",
        "like",
        "wie",
        "comme",
        "como",
        "come",
        "zoals",
    ];
    const ARTICLES: &[&str] = &["the", "our", "la", "le", "el", "die", "der", "il", "onze"];
    // Only the last words matter (the longest phrase and an article): read from the end, so
    // a check at every order word of a long text does not split it all again each time.
    let mut words: Vec<&str> = before.split_whitespace().rev().take(4).collect();
    words.reverse();
    if words.last().is_some_and(|w| ARTICLES.contains(w)) {
        words.pop();
    }
    let n = words.len();
    SAME.iter().any(|s| {
        let k = s.split(' ').count();
        n >= k && words[n - k..].join(" ") == *s
    })
}

/// Whether the text before an order word or label ends with a second-person possessive
/// ("your", "votre", "Ihre", "su", "vostro", "uw", "seu"…).
fn yours(before: &str) -> bool {
    const YOURS: &[&str] = &[
        "your",
        "votre",
        "vos",
        "ihre",
        "ihrer",
        "ihres",
        "eure",
        "su",
        "sus",
        "vuestro",
        "vuestra",
        "vostro",
        "vostra",
        "uw",
        "jouw",
        "seu",
        "sua",
        "vaša",
        "vaše",
        "váš",
        "jūsu",
        "ваше",
        "ваш",
        "вашого",
    ];
    // The possessive right before, or before the order word a number mark follows ("your
    // order" + "no. 4711").
    let mut words = before.split_whitespace().rev();
    match (words.next(), words.next()) {
        (Some(w), _) if YOURS.contains(&w) => true,
        (Some(w), Some(p)) => REFERENCE_WORDS.contains(&w) && YOURS.contains(&p),
        _ => false,
    }
}

/// Whether the text right before a Chinese number label (`单号`, `單號`) names another
/// document than the order: `报价单号` is a quotation's number, `送货单号` a delivery note's,
/// `发票号` an invoice's, `运单号` a waybill's.
fn other_document(before: &str) -> bool {
    const OTHER: &[&str] = &[
        "报价", "報價", "询价", "詢價", "估价", "估價", "送货", "送貨", "发货", "發貨", "出库",
        "出庫", "入库", "入庫", "退货", "退貨", "运", "運", "快递", "快遞", "发票", "發票", "合同",
        "付款", "收款", "对账", "對賬",
    ];
    OTHER.iter().any(|w| before.ends_with(w))
}

/// `s` in lower case wherever that keeps each character's length in bytes (so offsets stay
/// valid): `Αρ. παραγγελίας` is found by `αρ. παραγγελίας`, not only ASCII labels.
fn lower_same_len(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(lc), None) if lc.len_utf8() == c.len_utf8() => lc,
                _ => c,
            }
        })
        .collect()
}

/// Whether a value after a bare order word reads as a reference, not a quantity ("Order
/// 4711" is; "order 100 units" and "order 1000 pcs" are not): a code with a letter or
/// separator, or four digits or more not followed by a unit.
fn bare_reference(value: &str, rest: &str) -> bool {
    let code = value
        .chars()
        .any(|c| c.is_ascii_alphabetic() || "-/_.".contains(c));
    let after = rest
        .trim_start()
        .get(value.len()..)
        .unwrap_or("")
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_lowercase();
    const UNITS: &[&str] = &[
        "x", "pcs", "pc", "pieces", "units", "unit", "stück", "stk", "st", "kg", "boxes", "cases",
        "cartons", "uds", "unidades", "pz", "pezzi", "stuks",
    ];
    code || (value.len() >= 4 && !UNITS.contains(&after.trim_end_matches(['.', ','])))
}

/// The value after a reference label: optional number marks and a colon, then a token with
/// a digit (`: 4711`, ` No. A-12`, ` n° CB-3302`); with whether a mark or colon came first.
fn reference_value(rest: &str) -> Option<(String, bool)> {
    let mut r = rest;
    let mut marked = false;
    // "Nieuwe bestelling, nummer BV-0326": a comma before a number mark.
    if let Some(after) = rest.strip_prefix(',') {
        let next = after.trim_start().to_lowercase();
        if NUMBER_MARKS
            .iter()
            .any(|m| next.starts_with(m) && m.chars().count() > 1)
        {
            r = after;
        }
    }
    // "numéro de commande interne est le BC-2026-0147": a word that says whose number it is
    // between the label and the verb.
    if let Some((word, after)) = r.trim_start().split_once(' ') {
        let is = after.trim_start().to_lowercase();
        if [
            "interne", "internal", "intern", "interno", "interna", "own", "eigene",
        ]
        .contains(&word.to_lowercase().as_str())
            && ["is ", "est ", "ist ", "es ", "è "]
                .iter()
                .any(|v| is.starts_with(v))
        {
            r = after;
        }
    }
    // "comanda noastră nr. CD-0077", "ordine nostro n. 77": languages that write "our"
    // after the order word, before its number mark.
    if let Some((word, after)) = r.trim_start().split_once(' ') {
        let next = after.trim_start().to_lowercase();
        if [
            "noastră", "noastra", "noastre", "nostra", "nostro", "nuestro", "nuestra", "nosso",
            "nossa",
        ]
        .contains(&word.to_lowercase().as_str())
            && NUMBER_MARKS.iter().any(|m| {
                next.starts_with(m) && !next[m.len()..].starts_with(|c: char| c.is_alphabetic())
            })
        {
            r = after;
        }
    }
    let mut verb = false;
    loop {
        let t = r.trim_start_matches([' ', '\t', ':', '：', '.']);
        if t.len() != r.len() && r[..r.len() - t.len()].contains([':', '：']) {
            marked = true;
        }
        let lower = t.to_lowercase();
        // "… est le BC-2026-0147", "… is the 4711": the article after the verb.
        if verb {
            if let Some(rest) = ["le ", "la ", "the ", "el ", "il ", "der ", "die "]
                .iter()
                .find_map(|a| lower.starts_with(a).then(|| &t[a.len()..]))
            {
                r = rest;
                verb = false;
                continue;
            }
        }
        // A word mark ("no", "nr") must end there; a sign ("#", "n°", "no.") may touch
        // the value ("#FG-8820").
        let mark = NUMBER_MARKS.iter().find(|m| {
            lower.starts_with(**m)
                && (!m.ends_with(|c: char| c.is_alphabetic())
                    || !lower[m.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic()))
        });
        match mark {
            Some(m) => {
                marked = true;
                verb = ["is", "ist", "est", "es"].contains(m);
                r = &t[m.len()..];
            }
            None => {
                r = t;
                break;
            }
        }
    }
    // A code in Greek or Cyrillic capitals is a code too ("МР-88", "ΠΡ-12").
    let capital =
        |c: &char| ('\u{0391}'..='\u{03A9}').contains(c) || ('\u{0400}'..='\u{042F}').contains(c);
    let token: String = r
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-/_.".contains(*c) || capital(c))
        .collect();
    let token = token.trim_end_matches(['.', '-', '/', '_']);
    // An amount is not a reference ("Total pedido: 4.622,20 €"): digits grouped by dots and
    // followed by decimals, or followed by a currency.
    let after = r[token.len()..].trim_start();
    let amount = token
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        && (after.starts_with(',') && after[1..].starts_with(|c: char| c.is_ascii_digit())
            || after.starts_with(['€', '$', '£', '¥', '円', '元'])
            || ["eur", "usd", "gbp", "chf"]
                .iter()
                .any(|c| after.to_ascii_lowercase().starts_with(c)));
    let ok = !amount
        && token.len() >= 3
        && token.chars().any(|c| c.is_ascii_digit())
        && token.starts_with(|c: char| c.is_ascii_alphanumeric() || capital(&c))
        // A date is not a reference.
        && !(token.matches(['.', '/']).count() == 2 && digits(token) >= 6 && !token.chars().any(|c| c.is_ascii_alphabetic()));
    ok.then(|| (token.to_string(), marked))
}

/// The country a document's language points to, for a postcode that could be several
/// countries' (`13002 Marseille`): French → FR, German → DE, Italian → IT, Dutch → NL,
/// Slovenian → SI, Czech → CZ, Slovak → SK, when
/// the document uses at least three of that language's order words and clearly more than of
/// any other. Spanish and Portuguese are written in several countries with five-digit
/// postcodes, so they name none.
pub fn language_country(text: &str) -> Option<&'static str> {
    const WORDS: &[(&str, &[&str])] = &[
        (
            "FR",
            &[
                "commande",
                "livraison",
                "livrer",
                "désignation",
                "quantité",
                "qté",
                "prix unitaire",
                "bonjour",
                "cordialement",
                "merci",
                "tva",
                "ttc",
                "rue ",
            ],
        ),
        (
            "DE",
            &[
                "bestellung",
                "lieferadresse",
                "lieferanschrift",
                "menge",
                "einzelpreis",
                "mwst",
                "mit freundlichen",
                "bestellnummer",
                "bezeichnung",
                "straße",
                "strasse",
            ],
        ),
        (
            "IT",
            &[
                "ordine",
                "consegna",
                "quantità",
                "prezzo",
                "cordiali saluti",
                "buongiorno",
                "descrizione",
                "spedizione",
                "via ",
            ],
        ),
        (
            "NL",
            &[
                "bestelling",
                "afleveradres",
                "aantal",
                "omschrijving",
                "met vriendelijke groet",
                "graag",
                "leveren",
                "bestelnummer",
                "straat",
                "bestelbon",
                "leveringsadres",
                "prijzen",
                "te betalen",
            ],
        ),
        // Catalan: Spain (Andorra's postcodes are `AD500`, and the Catalan-speaking part of
        // France writes its addresses in French).
        (
            "ES",
            &[
                "lliurament",
                "adreça",
                "quantitat",
                "preu unitari",
                "gràcies",
                "si us plau",
                "carrer ",
                "setmana",
                "comanda núm",
            ],
        ),
        // Slovenian is written in one country only.
        (
            "SI",
            &[
                "naročilnica",
                "naročilo",
                "dobavitelj",
                "dostava na",
                "skupaj",
                "količina",
                "znesek",
                "rok dobave",
                "lep pozdrav",
                "hvala",
            ],
        ),
        // Czech and Slovak share the postcode's form (`602 00`, `811 01`) and some words,
        // not these.
        (
            "CZ",
            &[
                "objednáváme",
                "dodání",
                "množství",
                "celkem",
                "s pozdravem",
                "zboží",
                "děkuji",
                "děkujeme",
                "dobrý den",
            ],
        ),
        (
            "SK",
            &[
                "objednávame",
                "dodanie",
                "dodacia",
                "množstvo",
                "celkom",
                "s pozdravom",
                "tovar",
                "ďakujem",
                "dobrý deň",
            ],
        ),
    ];
    // Greek is written in Greece and Cyprus (whose postcodes are four digits, Greece's
    // `546 22`): a text mostly in Greek letters points to Greece.
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let greek = text
        .chars()
        .filter(|c| ('\u{370}'..='\u{3ff}').contains(c) || ('\u{1f00}'..='\u{1fff}').contains(c))
        .count();
    if greek >= 40 && greek * 2 >= letters {
        return Some("GR");
    }
    let lower = text.to_lowercase();
    let mut counts: Vec<(&'static str, usize)> = WORDS
        .iter()
        .map(|(c, words)| (*c, words.iter().filter(|w| lower.contains(**w)).count()))
        .collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let (best, n) = counts[0];
    let second = counts.get(1).map_or(0, |c| c.1);
    (n >= 3 && n > 2 * second).then_some(best)
}

/// The country of the VAT numbers `text` writes after a VAT label (`BTW BE 0456.123.789`,
/// `ID za DDV: SI12345678`, `USt-IdNr. DE123456789`), when they are all of one country.
pub fn vat_country(text: &str) -> Option<&'static str> {
    re!(
        VAT_NUMBER,
        r"(?i)(?:btw|vat|tva|iva|ddv|dph|dič|nip|ust|mwst|moms|alv|áfa|pvm|pvn|kmkr|vsk)[^\n0-9]{0,24}?\b(AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK)\s?U?[0-9][0-9 .]{6,14}[0-9]"
    );
    let mut found: Option<&'static str> = None;
    for m in rx(&VAT_NUMBER)?.captures_iter(text) {
        let code = m.get(1)?.as_str().to_uppercase();
        let code = postal_prefix_country(&code).or(match code.as_str() {
            "EL" => Some("GR"),
            "BG" => Some("BG"),
            "HR" => Some("HR"),
            "LV" => Some("LV"),
            "MT" => Some("MT"),
            "CY" => Some("CY"),
            _ => None,
        })?;
        match found {
            Some(f) if f != code => return None,
            _ => found = Some(code),
        }
    }
    found
}

re!(
    AMBIGUOUS_NUMBER,
    r"(?m)(?:^|[^0-9.,])[0-9]{1,3}[.,][0-9]{3}(?:$|[^0-9.,]|[.,](?:$|[^0-9]))"
);

/// Whether `text` holds a number that reads two ways: one separator before exactly three
/// digits (`12.990`, `1,250`) — a decimal point or a thousands separator, by convention only.
pub fn has_ambiguous_number(text: &str) -> bool {
    rx(&AMBIGUOUS_NUMBER).is_some_and(|r| r.is_match(text))
}

/// Whether a country writes amounts with a decimal comma and dots (or spaces) between
/// thousands ("12.990", "1.530,80").
pub fn decimal_comma_country(country: &str) -> bool {
    [
        "DE", "AT", "NL", "BE", "FR", "LU", "ES", "IT", "PT", "DK", "SE", "NO", "FI", "IS", "PL",
        "CZ", "SK", "SI", "HR", "HU", "RO", "BG", "GR", "TR", "RU", "UA", "BR", "AR", "CL", "CO",
        "UY", "PY", "VE", "EC", "BO", "ID", "VN",
    ]
    .contains(&country)
}

/// Whether the numbers of a text use a decimal comma: `12,50` and `1.234,50` say yes,
/// `12.50` and `1,234.50` say no; `None` when they do not tell (only whole numbers, or both).
pub fn infer_decimal_comma(text: &str) -> Option<bool> {
    let (mut comma, mut dot) = (0, 0);
    for (n, after) in super::checks::numbers(text) {
        // Followed by a digit or letter, it is part of a code, not an amount.
        if after.starts_with(|c: char| c.is_alphanumeric()) {
            continue;
        }
        let last_sep = n.rfind([',', '.']);
        let Some(at) = last_sep else { continue };
        let decimals = n.len() - at - 1;
        // "185.000,-", "12,-": the amount without its cents after a decimal comma.
        if after.starts_with(",-") || (after.starts_with('-') && n.ends_with(',')) {
            comma += 1;
            continue;
        }
        // "9.250.000", "1,250,000": the same separator twice is between thousands.
        let (dots, commas) = (n.matches('.').count(), n.matches(',').count());
        if dots >= 2 && commas == 0 {
            comma += 1;
            continue;
        }
        if commas >= 2 && dots == 0 {
            dot += 1;
            continue;
        }
        if decimals == 3 {
            continue;
        }
        match &n[at..at + 1] {
            "," => comma += 1,
            _ => dot += 1,
        }
    }
    match (comma > 0, dot > 0) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// Whether a piece of a name is a measure per pack ("5kg/桶", "500g/袋", "20L/drum",
/// "400g×30袋/箱"), not an item code.
fn measure_per_pack(t: &str) -> bool {
    re!(
        MEASURE_PER,
        r"(?i)^[0-9]+(?:[.,][0-9]+)?\s?(?:ml|cl|dl|l|g|kg|mm|cm|m|oz|lb|lbs)\s?[/×x]"
    );
    rx(&MEASURE_PER).is_some_and(|r| r.is_match(t))
}

/// Whether an item name read from free text still holds parts of the item that belong
/// elsewhere: a price mark, or a bracket with a label or an item code in it (`（货号
/// PRN-2200）`, `(Art.-Nr.: A-1)`); `(500)` or `(x50)` are part of a name.
fn leftover_code(name: &str) -> bool {
    if name.contains('@')
        || name
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace())
    {
        return true;
    }
    let mut rest = name;
    while let Some(open) = rest.find(['(', '（']) {
        let inner = &rest[open..];
        let close = inner.find([')', '）']).unwrap_or(inner.len());
        let group = &inner[..close];
        let code = group
            .split(|c: char| c.is_whitespace() || "，,、;；(（".contains(c))
            .any(|t| {
                t.chars().any(|c| c.is_ascii_alphabetic())
                    && t.chars().any(|c| c.is_ascii_digit())
                    && t.contains(['-', '_', '/'])
                    && !measure_per_pack(t)
            });
        if code || group.contains([':', '：']) {
            return true;
        }
        // Past the closing bracket (one character, one to three bytes).
        let after = inner[close..].chars().next().map_or(0, char::len_utf8);
        rest = &inner[close + after..];
    }
    false
}

/// An item's code leading its name, split from it: `GOB-12 – Gobelets`, `WCK-100 | Cotton
/// wicks`, or a code column before the name (`KAW-ARB-1  Kawa ziarnista`, two spaces or more,
/// the code then with a letter in it). A code has a separator inside (`SK-220`, `4711.01`).
fn code_lead(s: &str) -> Option<(&str, &str)> {
    // Odoo's "[TBM-550] Tarwebloem patent 25 kg": the code in square brackets.
    re!(
        CODE_BRACKETED,
        r"^\[([A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*)\]\s*(\S.*)$"
    );
    if let Some(m) = rx(&CODE_BRACKETED).and_then(|r| r.captures(s)) {
        let (code, name) = (m.get(1)?.as_str(), m.get(2)?.as_str().trim());
        if code.chars().any(|c| c.is_ascii_digit()) && !name.is_empty() {
            return Some((code, name));
        }
    }
    re!(
        CODE_LEAD,
        r"^([A-Z0-9]+(?:[-_./][A-Z0-9]+)+)(?:\s*[-–—:,|]\s*|(\s{2,}|\t)|(\s))"
    );
    let m = rx(&CODE_LEAD)?.captures(s)?;
    let code = m.get(1)?.as_str();
    let letter = code.chars().any(|c| c.is_ascii_alphabetic());
    if m.get(2).is_some() && !letter {
        return None;
    }
    // One space after the code ("TK-250 Türk kahvesi"): a code with letters and digits, and
    // a name that starts with a letter.
    if m.get(3).is_some()
        && !(letter
            && code.chars().any(|c| c.is_ascii_digit())
            && s[m.get(0)?.end()..].starts_with(char::is_alphabetic))
    {
        return None;
    }
    let name = s[m.get(0)?.end()..].trim();
    (!name.is_empty()).then_some((code, name))
}

/// A region read up to the mark that names the postcode after it ("Yucatán, C.P." from
/// "Mérida, Yucatán, C.P. 97000"; "CEP", "PLZ", "ZIP", "NPA", "PIN", "邮编"): the region
/// without the mark. `None` when the region ends with no such mark.
pub fn without_postcode_mark(region: &str) -> Option<String> {
    re!(
        POSTCODE_MARK_END,
        r"(?i)^(.*?\S)[\s,;]+(?:c\.\s?p\.?|cp|cep|plz|zip(?:\s+code)?|postcode|post\s+code|npa|pin(?:\s+code)?|邮编|郵編|〒)$"
    );
    let m = rx(&POSTCODE_MARK_END)?.captures(region.trim())?;
    Some(m.get(1)?.as_str().trim_end_matches([',', ';']).to_string())
}

/// The number of units a line's price is for, from its own column ("Per": 100, 1000): a
/// whole number above one; `None` for one unit or a unit word.
fn price_unit(cell: &str, decimal_comma: bool) -> Option<Decimal> {
    let n = parse_quantity(cell.trim(), decimal_comma)?;
    (n > Decimal::ONE && n.fract().is_zero()).then_some(n)
}

/// An item after its quantity that starts with the unit word before its code's label ("5
/// Ring Art.-Nr. 11-3015 …", "3 Eimer Art.-Nr. …", "2 tins ref. …"): the item from the label
/// on, the unit word being no part of its name.
fn unit_before_code_label(item: &str) -> Option<(&str, String)> {
    re!(
        UNIT_THEN_LABEL,
        r"(?i)^([0-9]{1,5}\s+)?(\p{L}{1,10}\.?)\s+((?:art\.?\s?-?\s?nr\.?|artikel(?:nummer|nr\.?)?|ref\.|réf\.|sku|item\s+no\.?|code)\s*[:#]?\s*[A-Za-z0-9])"
    );
    let m = rx(&UNIT_THEN_LABEL)?.captures(item)?;
    let count = m.get(1).map_or("", |c| c.as_str());
    let unit = m.get(2)?.as_str();
    Some((unit, format!("{count}{}", &item[m.get(3)?.start()..])))
}

/// A code of capital letters in parts joined by a hyphen ("NHS-M", "PAP-XL") leading a name
/// that starts with a capitalised word, one space after it: read only where the list's other
/// items lead with codes, so that it stands in the code's place.
fn letter_code_lead(s: &str) -> Option<(&str, &str)> {
    re!(
        LETTER_CODE_LEAD,
        r"^([A-Z]{2,}(?:-[A-Z0-9]+)+) (\p{Lu}\p{Ll}.*)$"
    );
    let m = rx(&LETTER_CODE_LEAD)?.captures(s)?;
    Some((m.get(1)?.as_str(), m.get(2)?.as_str().trim()))
}

/// The text before a whole number that ends `s` after a space (`Oat milk 1L x6   30`).
fn before_number(s: &str) -> Option<&str> {
    let t = s.trim_end();
    let before = t.trim_end_matches(|c: char| c.is_ascii_digit());
    (before.len() < t.len() && before.ends_with(char::is_whitespace)).then_some(before)
}

/// Unit words that may follow a list item's quantity.
const LIST_UNITS: &[&str] = &[
    "x",
    "pcs",
    "pc",
    "pieces",
    "units",
    "unit",
    "stk",
    "stück",
    "st",
    "uds",
    "unidades",
    "pz",
    "pezzi",
    "un",
    "sacks",
    "bags",
    "boxes",
    "tubs",
    "cases",
    "cartons",
    "ctn",
    "ctns",
    "packs",
    "bottles",
    "kasser",
    "paquetes",
    "botellas",
    "baldes",
    "caixas",
    "garrafas",
    "latas",
    "pacotes",
    "frascos",
    "ถุง",
    "ก้อน",
    "กล่อง",
    "ชิ้น",
    "ขวด",
    "แพ็ค",
    "件",
    "个",
    "個",
    "箱",
    "本",
    "枚",
    "台",
    "套",
    "只",
    "盒",
    "瓶",
    "袋",
    "包",
    "张",
    "張",
    "块",
    "塊",
    "盘",
    "盤",
    "罐",
    "桶",
    "条",
    "條",
    "支",
    "卷",
    // A dozen, a packet, a bucket; Chinese counters of rolls, tools and bundles.
    "dozen",
    "doz",
    "pak",
    "eimer",
    "捲",
    "把",
    "捆",
];

// A quantity written after the item's name with the sign before it: "… (RB-500) x10 - …",
// "… (SU-FC-1L) x12 @ Rp 19.500" (a size such as "3.5x10in" has no space before the sign).
re!(QTY_AFTER, r"(?i)(?:^|\s)[x×]\s?([0-9]{1,5})(?:\s|$|[,;])");

/// Where the sign for times starts after a pack size written with "of" ("case of 500 x 4",
/// "box of 12 × 3"): that number is the pack's, the count the one after the sign.
fn pack_size_times(s: &str) -> Option<usize> {
    re!(
        PACK_OF_TIMES,
        r"(?i)\bof\s+[0-9]{1,6}(\s+[x×]\s?[0-9]{1,5})(?:\s|$|[,;])"
    );
    if s.len() > 400 || !contains_ci(s, "of") {
        return None;
    }
    let m = rx(&PACK_OF_TIMES)?.captures(s)?;
    Some(m.get(1)?.start())
}

/// A list item's unit price written after a dash or a word for "at" with its currency, ending
/// the item, perhaps with the unit it is per: "– 18,50 zł netto/szt.", "– 119.90 ₪ ליח'",
/// "- 125.000đ/gói", "по 685,00 грн", "بسعر 95.00 درهم للوحدة". Groups as in the other price
/// patterns (1: currency before, 2: the amount, 3: currency after); `None` without a currency
/// (`- 250 g` is a size).
fn dash_price(body: &str) -> Option<regex::Captures<'_>> {
    re!(
        PRICE_DASH,
        r"(?i)(?:\s[-–—]|\sпо|\sبسعر)\s*((?:US|NT|HK|R|A|NZ|C|S)?\$|[£€¥￥₱]|USD|EUR|GBP|CHF|PLN|UAH|AED|ILS|VND|Rp)?\s*([0-9][0-9.,' ]*[0-9]|[0-9])\s*(zł|kč|kr\.?|[€£$¥₺₹₩원₪₫₴đ]|грн\.?|درهم|ر\.س|vnđ|vnd|eur|usd|gbp|chf|pln|uah|aed|ils|ft|huf|lei|ron|tl|try)?(?:\s*/\s*[^\s0-9]+|\s+[^\s0-9]+(?:\s[^\s0-9]+)?)?\s*$"
    );
    rx(&PRICE_DASH)?
        .captures(body)
        .filter(|m| m.get(1).is_some() || m.get(3).is_some())
}

/// A count with its packing restated in brackets after it ("48 (4 cartons of 12)", "48 (4 x
/// 12)", "48 (4 Kartons à 12 Stk.)"): the item
/// without the bracket, and with the count written as `48 x`, when the packing multiplies out
/// to it (otherwise it is left as written, and read as it reads).
fn pack_note(body: &str) -> Option<(String, String)> {
    re!(
        PACK_NOTE,
        r"(?i)(^|[\s:])([0-9]{1,5})\s*\(\s*([0-9]{1,4})\s*(?:\p{L}+\.?\s+)?(?:of|à|a|de|da|zu|[x×])\s*([0-9]{1,4})(?:\s+\p{L}+\.?)?\s*\)"
    );
    let m = rx(&PACK_NOTE)?.captures(body)?;
    let n = |i: usize| m[i].parse::<u64>().ok();
    if n(3)?.checked_mul(n(4)?)? != n(2)? {
        return None;
    }
    let whole = m.get(0)?.range();
    let (before, after) = (&body[..whole.start], &body[whole.end..]);
    Some((
        format!("{before}{}{}{after}", &m[1], &m[2]),
        format!("{before}{}{} x{after}", &m[1], &m[2]),
    ))
}

/// Whether a bracket in an item's name is its pack size, not its code: a number alone
/// (`Black refuse sacks (200)`) or a count times a size (`(6 x 150m)`, `(10 x 100)`, `(20 x
/// 0,5 l)`), the pack named with "of" (`(carton of 20)`). A code in brackets has a letter or
/// a separator in it, or a word naming it (`(Art. 123)`).
fn pack_bracket(bracket: &str) -> bool {
    re!(
        PACK_BRACKET,
        r"(?i)^[(（]\s*(?:\p{L}{1,12}\s+of\s+)?[0-9]+(?:[.,][0-9]+)?\s*(?:[x×]\s*[0-9][0-9.,]*\s*\p{L}{0,3}\.?\s*)?[)）]$"
    );
    rx(&PACK_BRACKET).is_some_and(|r| r.is_match(bracket.trim()))
}

/// The doubt on a line counted only by the number that starts its name ("4 Season tyres"),
/// which nothing confirms as a count.
const PACK_COUNT_DOUBT: &str =
    "lines: a count written after a size (250ml x 6) may be the pack's rather than the quantity, and nothing confirms it";

/// The doubt on an item that ends with an amount and its sign and no word for each ("4 x
/// Spiced chai 1kg $29.95"), which may be the line's amount as well as the unit price.
const BARE_PRICE_DOUBT: &str =
    "lines: an amount that ends an item with no word for each may be the line's amount rather than its unit price, and nothing confirms it";

// An amount with its currency sign that ends an item line ("… (CHAI-1K) $29.95"), in
// `list_lines`' price groups: the sign, the number, nothing after.
re!(
    END_PRICE,
    r"\s((?:US|NT|HK|A|NZ|C|S)?\$|[£€₹₦])\s?([0-9][0-9.,]*[0-9]|[0-9])()\s*$"
);

const LEAD_COUNT_DOUBT: &str =
    "lines: the number that starts an item's name is read as its quantity, which nothing confirms";

/// Measures that may follow a number in an item's name (`10 kg`, `500 ml`): the number is a
/// size, not a count.
const MEASURES: &[&str] = &[
    "g", "kg", "mg", "l", "ml", "cl", "dl", "cm", "mm", "m", "km", "oz", "lb", "lbs", "in", "ft",
    "gal", "w", "kw", "v", "a", "mah", "gb", "tb", "ply", "x", "st", "stk", "pcs", "cs",
];

// An item that starts with its count and a word ("2 Azúcar glas 10 kg …"); at most three
// digits, so a year before a name ("2026 Calendar") is no count.
re!(QTY_LEAD, r"^\s*([0-9]{1,3})\s+(\p{L}[\p{L}.]*)");

/// A line that starts with its quantity in words ("Two dozen sourdough rolls at 45p each",
/// "Half a dozen …", "A dozen …", "Drei Kisten Äpfel à 12,90 €", "Une douzaine de
/// croissants à 0,90 €", "Dos cajas de tomate a 14,50 €") and names a price after `at`, `@`,
/// `à`, `a`, `je`, `zu`, `per`, `por` or `voor`, rewritten with the number (`24 x sourdough
/// rolls at 45p each`). English, German, French, Spanish, Italian, Dutch and Portuguese, one
/// to twelve and a dozen; words that are English words too ("elf", "once", "doze") are left
/// out.
fn worded_quantity(line: &str) -> Option<String> {
    const NUMBERS: &[&[&str]] = &[
        &[
            "one", "ein", "eine", "einen", "un", "une", "uno", "una", "een", "één", "um", "uma",
        ],
        &["two", "zwei", "deux", "dos", "due", "twee", "dois", "duas"],
        &["three", "drei", "trois", "tres", "tre", "drie", "três"],
        &["four", "vier", "quatre", "cuatro", "quattro", "quatro"],
        &["five", "fünf", "cinq", "cinco", "cinque", "vijf"],
        &["six", "sechs", "seis", "sei", "zes"],
        &["seven", "sieben", "sept", "siete", "sette", "zeven", "sete"],
        &["eight", "acht", "huit", "ocho", "otto", "oito"],
        &["nine", "neun", "neuf", "nueve", "nove", "negen"],
        &["ten", "zehn", "dix", "diez", "dieci", "tien", "dez"],
        &["eleven", "onze", "undici"],
        &["twelve", "zwölf", "douze", "doce", "dodici", "twaalf"],
    ];
    const DOZEN: &[&str] = &[
        "dozen",
        "dutzend",
        "douzaine",
        "douzaines",
        "docena",
        "docenas",
        "dozzina",
        "dozzine",
        "dozijn",
        "dúzia",
        "dúzias",
    ];
    const HALF: &[&[&str]] = &[
        &["half", "a"],
        &["ein", "halbes"],
        &["une", "demi-douzaine"],
        &["media"],
        &["mezza"],
        &["een", "half"],
        &["meia"],
    ];
    // A price with its currency (or in pence) after the word for "at".
    re!(
        PRICED,
        r"(?i)\s(?:at|@|à|a|je|zu|per|por|voor)\s*(?:[£$€]\s?[0-9]|[0-9][0-9.,]*\s?(?:p\b|€|eur\b|gbp\b|usd\b))|\s@\s?[0-9]|\s[-–—]\s?[£$€]\s?[0-9]"
    );
    if !rx(&PRICED)?.is_match(line) {
        return None;
    }
    // "- a dozen packs of …": the item's bullet stays before the count.
    let t = line.trim_start();
    let (bullet, t) = match t.split_once(' ') {
        Some((b, rest)) if ["-", "*", "•", "·", "–"].contains(&b) => (b, rest.trim_start()),
        _ => ("", t),
    };
    let lower = t.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let number = |w: &str| {
        NUMBERS
            .iter()
            .position(|ns| ns.contains(&w))
            .map(|i| i as u32 + 1)
    };
    let dozen = |w: &str| DOZEN.contains(&w);
    let half = HALF.iter().find(|h| words.starts_with(h)).map(|h| h.len());
    let (count, mut used) = match (half, words.as_slice()) {
        // "une demi-douzaine de …": the half and the dozen in one word.
        (Some(2), [_, "demi-douzaine", ..]) => (6, 2),
        (Some(n), _) if words.get(n).is_some_and(|w| dozen(w)) => (6, n + 1),
        (_, [n, d, ..]) if dozen(d) && (*n == "a" || number(n) == Some(1)) => (12, 2),
        (_, [n, d, ..]) if dozen(d) => (number(n)? * 12, 2),
        (_, [n, ..]) => (number(n)?, 1),
        (_, []) => return None,
    };
    // "une douzaine de croissants", "una docena di …", "a dozen of …": the word that joins
    // the dozen to the item is no part of the name.
    if count % 6 == 0
        && used >= 2
        && words
            .get(used)
            .is_some_and(|w| ["de", "di", "of", "d'"].contains(w))
    {
        used += 1;
    }
    // "a dozen packs of Kraft napkins": the unit counted and its "of" are no part of the name.
    if used >= 2
        && words.get(used + 1) == Some(&"of")
        && words
            .get(used)
            .is_some_and(|w| LIST_UNITS.contains(w) || ["sleeves", "tins", "trays"].contains(w))
    {
        used += 2;
    }
    // The text after the quantity words, as written.
    let mut rest = t;
    for _ in 0..used {
        rest = rest.trim_start();
        rest = &rest[rest.find(char::is_whitespace)?..];
    }
    let rest = rest.trim_start();
    // The name must follow: a word for "at" there means the number word was no count.
    let first = rest.split_whitespace().next().unwrap_or("").to_lowercase();
    (rest.starts_with(char::is_alphabetic)
        && !["at", "a", "à", "je", "zu", "per", "por", "voor"].contains(&first.as_str()))
    .then(|| {
        if bullet.is_empty() {
            format!("{count} x {rest}")
        } else {
            format!("{bullet} {count} x {rest}")
        }
    })
}

/// An item typed without a bullet that starts with its quantity after a label ("Qty: 4 -
/// Unsalted butter 454 g (BU-UNS-36) @ $139.50", "qty: 4 Spiced chai 1kg (CHAI-1K) $29.95")
/// and names a price: rewritten with the count first (`4 x Unsalted butter …`).
fn labelled_lead_quantity(line: &str) -> Option<String> {
    re!(
        QTY_LABEL_LEAD,
        r"(?i)^\s*(?:qty|quantity)\.?\s*[:：]?\s*([0-9]{1,5})\s*[-–—:]?\s+(\p{L}.*)$"
    );
    re!(ANY_PRICE, r"(?:@\s?|[$£€₹₦]\s?)[0-9]");
    let m = rx(&QTY_LABEL_LEAD)?.captures(line)?;
    rx(&ANY_PRICE)?
        .is_match(&m[2])
        .then(|| format!("{} x {}", &m[1], &m[2]))
}

/// Whether the sign for times at `at` is written against a size ("400g×30袋", "30cm×50m",
/// "A4×100sh"): a measure before it, or, without a space, a letter or digit before it and a
/// number that a unit follows after it — a pack or a dimension, not the count ordered. So is
/// a sign inside a bracket the name opened and has not closed ("（200抽×20包/箱）": the
/// packing, the count is written after the bracket), and one written, without a space, between
/// two numbers with their Chinese measure words ("200抽×20包") — a pack of packs.
fn size_times(text: &str, at: usize) -> bool {
    re!(
        SIZE_BEFORE,
        r"(?i)[0-9](?:[.,][0-9]+)?\s?(?:ml|cl|l|g|kg|mm|cm|m|oz|lb)$"
    );
    re!(MEASURED_AFTER, r"^×[0-9]+(?:[.,][0-9]+)?[a-zA-Z]");
    // A count's measure word, not a currency's ("15箱×96.00元" names a price).
    re!(HAN_COUNTED_BEFORE, r"[0-9][^\P{Han}元円圓]$");
    re!(HAN_COUNTED_AFTER, r"^×[0-9]+[^\P{Han}元円圓]");
    if !text[at..].starts_with('×') {
        return false;
    }
    let head = &text[..at];
    // Only the last bracket opened before the sign counts, and a short window of text.
    let opened = head.rfind(['(', '（']);
    let closed = head.rfind([')', '）']);
    let in_bracket =
        opened.is_some_and(|o| closed.is_none_or(|c| c < o)) && text[at..].contains([')', '）']);
    in_bracket
        || rx(&SIZE_BEFORE).is_some_and(|r| r.is_match(head))
        || (head
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && rx(&MEASURED_AFTER).is_some_and(|r| r.is_match(&text[at..])))
        || (rx(&HAN_COUNTED_BEFORE).is_some_and(|r| r.is_match(head))
            && rx(&HAN_COUNTED_AFTER).is_some_and(|r| r.is_match(&text[at..])))
}

/// A count written as a number and a one-character Chinese measure word between spaces
/// ("　6捲　", " 12把 "), the last one before the price (a size such as "9吋" comes earlier,
/// in the name): group 1 is the count.
fn han_count(text: &str, before: usize) -> Option<regex::Captures<'_>> {
    // The space after the measure word is checked, not matched, so that it can start the
    // next count ("6吋　4把").
    re!(HAN_COUNT, r"(?:^|[ \t　])([0-9]{1,5})\p{Han}");
    rx(&HAN_COUNT)?
        .captures_iter(text)
        .filter(|m| {
            m.get(0).is_some_and(|w| {
                w.end() <= before
                    && (w.end() == text.len() || text[w.end()..].starts_with([' ', '\t', '　']))
            })
        })
        .last()
}

/// The count before its unit word (any word) and the sign for times before a price with its
/// currency ("16 sacchi x € 21,40", "24 brick x 3,85 €"): group 1 is the count.
fn unit_times_price(text: &str) -> Option<regex::Captures<'_>> {
    re!(
        UNIT_TIMES_PRICE,
        r"(?i)(?:^|[\s:：])([0-9]{1,5})(?:\s+\p{L}{1,12}\.?|[\p{Katakana}\p{Hiragana}\p{Han}ー]{1,6})\s+[x×]\s*(?:[$£€¥￥₹]|[A-Z]{3}\s)?\s*[0-9][0-9.,']*\s*(?:[$£€¥￥₹円元]|[A-Za-z]{3})?\s*(?:[=＝]|$)"
    );
    rx(&UNIT_TIMES_PRICE)?.captures(text)
}

/// The line's amount written after an equals sign with its currency, ending an item that
/// names no price ("6 x Baking paper 40cm x 100m (BP-40-100) = $131.70", "= 37,50 €"): groups
/// as [`dash_price`]'s (1 and 3 the currency, 2 the amount).
fn equals_amount(body: &str) -> Option<regex::Captures<'_>> {
    re!(
        EQUALS_AMOUNT,
        r"(?i)\s=\s*((?:US|NT|HK|R|A|NZ|C|S)?\$|[£€¥￥₹]|USD|EUR|GBP|CHF|CAD|AUD|NZD|SGD)?\s*([0-9][0-9.,']*[0-9]|[0-9])\s*([$£€¥₹]|eur|usd|gbp|chf|aud|nzd|cad|sgd)?\s*$"
    );
    rx(&EQUALS_AMOUNT)?
        .captures(body)
        .filter(|m| m.get(1).is_some() || m.get(3).is_some())
}

/// A unit price read from a line's amount and its quantity: the amount divided by it; in
/// doubt when that does not come out in whole cents (the amount is then rarely a price times
/// the quantity).
fn amount_per_unit(amount: Decimal, quantity: Decimal) -> (Option<Decimal>, Option<String>) {
    let Some(exact) = amount.checked_div(quantity) else {
        return (None, None);
    };
    let doubt = (exact.round_dp(2) * quantity != amount).then(|| {
        "lines: a line's unit price is its amount divided by its quantity, which does not come \
         out in whole cents"
            .to_string()
    });
    (Some(exact.round_dp(4).normalize()), doubt)
}

/// An item's text without the line's amount written after an equals sign at its end ("16
/// sacchi x € 21,40 = € 342,40", "3 x 12.50 = 37.50 EUR"): the price is the one before it.
fn without_line_amount(body: &str) -> &str {
    re!(
        LINE_AMOUNT,
        r"\s[=＝]\s*(?:[$£€¥￥₹]|[A-Z]{3})?\s*[0-9][0-9.,' ]*[0-9]?\s*(?:[$£€¥￥₹円元]|[A-Za-z]{3})?\s*$"
    );
    match rx(&LINE_AMOUNT).and_then(|r| r.find(body)) {
        Some(m) if m.start() > 0 => &body[..m.start()],
        _ => body,
    }
}

/// An item that starts with its count and the count's unit in one short word, then a dash
/// before the name ("• 3 bx – Cup head bolt M12 x 150, box of 25 (BT-M12-150) @ $42.60/bx",
/// "- 40 ea – Joist hanger …", "12 sheets – Structural ply …"), rewritten with the count as
/// `3 x …`: the count is the quantity, the unit no part of the name, and a size in the name
/// (`x 150`) no count.
fn unit_dash(line: &str) -> Option<String> {
    re!(
        UNIT_DASH,
        r"^(\s*(?:[-*•·–]\s+|[0-9]{1,2}[.)]\s+)?)([0-9]{1,5})\s*(\p{L}{1,10}\.?)\s+[-–—]\s+(\p{L}.*)$"
    );
    let m = rx(&UNIT_DASH)?.captures(line)?;
    Some(format!("{}{} x {}", &m[1], &m[2], &m[4]))
}

/// Lines written as list items in any of the common shapes (`1. SKU - Name - qty 12 @ $24.00
/// each`, `- 6 x Name (SKU) à 19,80 €`, `• Name, SKU, 4 Stück je 12,50 €`): a bullet or a number,
/// a quantity (before `x`, or after `qty`), and a unit price (after `@`, `à`, `je`, `at`).
fn list_lines(
    lines: &[&str],
    ctx: &Ctx,
    read: &[usize],
    doubts: &mut Vec<String>,
) -> Vec<(usize, Line)> {
    re!(
        ITEM,
        r"^\s*(?:(?:[-*•·–]|[0-9]{1,2}[.)-])\s+|[0-9０-９]{1,2}[．、）]\s*|・\s*)(.*)$"
    );
    // "(1) 中太ちぢれ麺 …": a number in brackets marks an item whose text starts with no digit
    // (a phone's area code in brackets, "(81) 5555-0122", is none).
    re!(
        ITEM_PAREN,
        r"^\s*[(（][0-9０-９]{1,2}[)）]\s*([^\s0-9０-９].*)$"
    );
    // An item typed without a bullet starts with its quantity ("3 x Cast iron skillet …").
    re!(ITEM_QTY, r"(?i)^\s*([0-9]{1,5}\s*(?:x|×)\s+.*)$");
    re!(
        ITEM_CODE,
        r"^\s*([A-Za-z0-9]+[-_./][A-Za-z0-9._/-]*[0-9][A-Za-z0-9._/-]*\s+\S.*(?:\s(?:@|à)\s.*|\s[0-9]+\s*[x×]\s*(?:[$£€¥₱]|[A-Z]{3})\s?[0-9][0-9.,]*))$"
    );
    // An item typed without a bullet that starts with its quantity and a unit and names a
    // price ("3 cases OM-12 Oat milk à 13,80"): an item only when it reads whole.
    re!(
        ITEM_UNIT,
        r"(?i)^\s*([0-9]{1,5}\s+(?:sacks?|bags?|boxe?s|box|tubs?|cases?|cartons?|ctns?\.?|packs?|bottles?|kasser?|stk\.?|pcs\.?|paquetes?|botellas?|cajas?|uds?\.?|kotak|pek|paket|karung|botol|bal\.?|ks\.?|kom\.?|kpl\.?|gab\.?|szt\.?|tk\.?)\s+\S.*(?:\s(?:@|à|á)\s.*|\s[$£€₹₦][0-9][0-9.,]*))$"
    );
    // An item typed without a bullet whose quantity follows the name as `x12` and a price
    // follows it ("Susu UHT 1 liter (SU-FC-1L) x12 @ Rp 19.500"): an item only when it reads
    // whole.
    re!(
        ITEM_X_AFTER,
        r"(?i)^\s*(\S.*\s[x×]\s?[0-9]{1,5}(?:\s+\p{L}{1,8}\.?)?\s+(?:(?:@|à|[-–—]|по|بسعر)\s|[$£€₹₦][0-9]).*)$"
    );
    // An item typed without a bullet whose quantity and unit follow the name after a dash
    // and a price follows them ("Plain flour 16kg (FL-PL16) – 12 bags @ £14.20"): an item
    // only when it reads whole.
    re!(
        ITEM_DASH_QTY,
        r"(?i)^\s*(\S.*\s[-–—]\s*[0-9]{1,5}\s*\p{L}{1,12}\.?\s+(?:@|à|á|at)\s*\S.*)$"
    );
    // An item typed without a bullet that starts with its code, then its count and unit
    // after a dash and its price with its currency after another dash, ending the line
    // ("MSK-L3-EL Level 3 ear-loop masks (box of 50) – 30 boxes – S$9.80/box"): an item
    // only when it reads whole.
    re!(
        ITEM_CODE_DASH,
        r"^\s*(\S+\s+\S.*\s[-–—]\s*[0-9]{1,5}\s.*\s[-–—]\s*(?:(?:US|NT|HK|R|A|NZ|C|S)?\$|[£€¥₱])\s?[0-9][0-9.,]*(?:\s*/\s*\p{L}+\.?)?)\s*$"
    );
    // A web form's item line: "Item: WAX-SOY-10 | Soy wax flakes | Qty: 6 | Price: $28.50".
    re!(
        ITEM_FIELD,
        r"(?i)^\s*(?:item|article|artikel|artículo|articolo|artigo|product|produit|producto|prodotto|produto)\s*[:：]\s*(.*)$"
    );
    // A price written after its amount: "£21.50 each", "$24.99 per box", "4,10 € la pièce",
    // "S$9.80/box" (the letter before the dollar sign is the currency's).
    re!(
        PRICE_AFTER,
        r"(?i)(US\$|HK\$|NT\$|NZ\$|[RSAC]\$|CHF|[$£€¥￥])\s*([0-9][0-9.,']*[0-9]|[0-9])\s*(?:[$£€¥]\s*)?(?:each|ea\.?|apiece|per\s+[a-z]+|/\s*[a-z]+|la\s+pi[eè]ce|pi[eè]ce|chacun|cada(?:\s+un[oa])?|ciascun[oa]|cad\.|pro\s+st[uü]ck|je\s+st[uü]ck|per\s+stuk|por\s+unidad)\b"
    );
    re!(
        QTY_X,
        r"(?i)(?:^|\s|×)([0-9]+)\s*(?:x|×|pcs?\.?|pieces|units?|stk\.?|stück|stuks?|st\.?|szt\.?|ks\.?|kpl\.?|uds?\.?|unidades|pz\.?|pezzi|un\.?|adet|db\.?|tk\.?|buc\.?|τεμ\.?|cajas?|caixas?|garrafas?|latas?|pacotes?|frascos?|kom\.?|kut\.?|bal\.?|pal\.?|pak\.?|paket|botol|slop|kotak|pek|karung|бр\.?|cs|ea|rlx|dz|dozen|doz\.?|sacks?|bags?|boxe?s|box|tubs?|cases?|cartons?|ctns?\.?|packs?|sleeves?|bottles?|tins?|trays?|kasser?|poser?|drums?|jars?|kegs?|pails?|buckets?|crates?|rolls?|reams?|pallets?|palés?|palets?|tubes?|bundles?|paquetes?|botellas?|baldes?|bolsas?|sacos?|cubos?|cubetas?|bidones|rollos?|bandejas?|sacs|seaux|bidons?|rouleaux|colis|cartoni|secchi|sacchi|confezioni|buste|bustine|scatole|bottiglie|flaconi|barattoli|lattine|pacchi|sacchetti|vaschette|rotoli|taniche|eimer|säcke|kartons?|kästen|kisten?|fässer|dosen|rollen|beutel|шт\.?|개|件|个|個|箱|本|枚|台|套|只|盒|瓶|袋|包|张|張|块|塊|盘|盤|罐|桶|条|條|支|卷|捲|把|捆)(?:\s+of\s+[0-9]+)?(?:\s|$|[,，;；。])"
    );
    re!(
        QTY_WORD,
        r"(?i)(?:\b(?:qty|quantity|menge|anzahl|qté|quantité|cantidad|aantal|quantità|quantidade|qtd)\.?|数量|數量|الكمية|จำนวน|số lượng|כמות|×)\s*[:：]?\s*([0-9]+)"
    );
    re!(
        PRICE,
        r"(?i)(?:@|(?:^|\s)[àá](?:\s|$)|\bat\b|\bje\b|\bzu\b|\ba\b|\bper\b|\bunit price\b|\bprice\b|\bpreis\b|\bprix\b|\bp\.?u\.?(?:\s*ht)?|(?:^|\s)по(?:\s|$)|\bprecio\b|\bprezzo\b|\bpreço\b|单价|單價|単価|ราคา[^\s0-9]{0,8}|đơn giá|מחיר ליחידה|מחיר)\s*[:：]?\s*((?:US|NT|HK|R|A|NZ|C|S)?\$|[£€¥￥₹₺₩₪₱₫฿]|USD|EUR|GBP|CHF|CAD|AUD|NZD|JPY|CNY|RMB|BRL|MXN|SGD|HKD|TWD|NOK|SEK|DKK|PLN|CZK|ZAR|INR|KRW|TRY|HUF|RON|AED|Rp|RM|TSh|KSh|S/\.?|Rs\.?|SFr\.?|Fr\.|R|₦|N)?\s*([0-9][0-9.,' ]*[0-9]|[0-9])\s*([^0-9\s,，]{0,4})"
    );
    // A price after the quantity and `x`, with its currency, ending the item: "12 szt. x
    // 64,90 zł", "5 x EUR 3.20" (without a currency `x 250` is a size, not a price).
    re!(
        PRICE_X,
        r"(?i)\s[x×]\s*((?:US|NT|HK|R|A|NZ|C|S)?\$|[£€¥￥₱]|USD|EUR|GBP|CHF|CAD|AUD|NZD|JPY|CNY|BRL|MXN|SGD|HKD|TWD|NOK|SEK|DKK|PLN|CZK|ZAR)?\s*([0-9][0-9.,' ]*[0-9]|[0-9])\s*(zł|kč|kr\.?|[€£$¥₺₹₩원₪円元]|ر\.س|eur|usd|gbp|chf|nok|sek|dkk|pln|czk|tl|try|ft|huf|lei|ron|sar|ils)?(?:\s+(?:netto|brutto|net|nett|ht|ttc))?\s*$"
    );
    // The quantity and its unit after a dash, right before the price ("Mydło w płynie 5 l
    // (MYD-5L) – 10 szt. × 38,90 zł netto"): the quantity, and the name ends at the dash.
    re!(
        DASH_QTY_END,
        r"\s[-–—]\s*([0-9]{1,5})\s*(?:\p{L}{1,8}\.?)?\s*$"
    );
    // The count and its unit after a colon that ends the name and its code, the only number
    // before the price ("Plátano hartón verde, racimo (cód. FR-PLV): 12 racimos – $ 38.500
    // c/u", "…: 6 u 8 canastillas, según … – $ 95.000"): the quantity, and the name ends at
    // the colon.
    re!(
        COLON_QTY,
        r"(?i)[:：]\s*([0-9]{1,5})(?:\s+(?:o|u|or|ou|oder)\s+[0-9]{1,5})?\s+\p{L}{2,12}\.?(?:[\s,;][^0-9:：]*)?$"
    );
    re!(
        CODE_PAREN,
        r"[(（]\s*(?:[^\s()（）:：]{1,12}[\s:：]+){0,2}#?([A-Za-z0-9][A-Za-z0-9._/-]*[0-9][A-Za-z0-9._/-]*|[A-ZΑ-ΩА-Я][A-ZΑ-ΩА-Я0-9]*[-_][A-ZΑ-ΩА-Я0-9][A-ZΑ-ΩА-Я0-9_-]*)\s*[)）]"
    );
    let dc = ctx.decimal_comma();
    let bracket_coded = bracketed_code_lines(lines) >= 2;
    // Such items leading with a code of letters and digits: where two do, a code of capital
    // letters alone ("GLV-NIT-M Nitrile gloves …") leads its item too.
    let dash_coded = lines
        .iter()
        .filter(|l| {
            rx(&ITEM_CODE_DASH)
                .and_then(|r| r.captures(l))
                .is_some_and(|m| code_lead(&m[1]).is_some())
        })
        .count()
        >= 2;
    let mut out = Vec::new();
    // Each line's count: by the number that starts its name only, by a number and a unit
    // word that start it.
    let mut shapes: Vec<(bool, bool)> = Vec::new();
    let mut unread = 0;
    // Items counted by a number and a unit but with no price, among priced ones.
    let mut priceless: Vec<(usize, Line)> = Vec::new();
    // Pence ("at 45p each") are a price only in a message that writes pounds.
    let sterling = lines.iter().any(|l| l.contains('£') || l.contains("GBP"));
    // "(1) 中太ちぢれ麺 150g（40玉入）　品番：MN-F150" over "    12ケース × 3,400円 ＝ 40,800円":
    // an item whose count and price are on the line under its name is read as one line.
    let mut under = None;
    for (i, line) in lines.iter().enumerate() {
        if read.contains(&i) || under == Some(i) {
            continue;
        }
        let joined = lines
            .get(i + 1)
            .filter(|_| !read.contains(&(i + 1)))
            .and_then(|next| count_under(line, next));
        if joined.is_some() {
            under = Some(i + 1);
        }
        let line: &str = joined.as_deref().unwrap_or(line);
        // "Two dozen sourdough rolls at 45p each": a quantity in words, read as its number.
        let worded = worded_quantity(line).or_else(|| labelled_lead_quantity(line));
        let line = worded.as_deref().unwrap_or(line);
        // "• 3 bx – Cup head bolt M12 x 150 …": the count and its unit before a dash.
        let dashed = unit_dash(line);
        let line = dashed.as_deref().unwrap_or(line);
        let listed = rx(&ITEM)
            .and_then(|r| r.captures(line))
            .or_else(|| rx(&ITEM_PAREN).and_then(|r| r.captures(line)))
            .or_else(|| rx(&ITEM_QTY).and_then(|r| r.captures(line)))
            .or_else(|| rx(&ITEM_FIELD).and_then(|r| r.captures(line)));
        // An item typed without a bullet that starts with its code and names a price
        // ("KM-01 Espresso 1 kg – 6 kom à 21,90 €"): an item only when it reads whole.
        let coded = listed.is_none();
        let Some(item) = listed
            .or_else(|| {
                rx(&ITEM_CODE)
                    .and_then(|r| r.captures(line))
                    .filter(|m| code_lead(&m[1]).is_some())
            })
            .or_else(|| rx(&ITEM_UNIT).and_then(|r| r.captures(line)))
            .or_else(|| rx(&ITEM_X_AFTER).and_then(|r| r.captures(line)))
            .or_else(|| rx(&ITEM_DASH_QTY).and_then(|r| r.captures(line)))
            .or_else(|| {
                rx(&ITEM_CODE_DASH)
                    .and_then(|r| r.captures(line))
                    .filter(|m| {
                        code_lead(&m[1]).is_some()
                            || (dash_coded && letter_code_lead(&m[1]).is_some())
                    })
            })
        else {
            match unit_led_priceless(line, dc) {
                Some(l) => priceless.push((i, l)),
                // "8oz sip lids, ctn 1000 (LID-8-SIP) x 2 ctns - $52.40" among read items: an
                // item line (a code in brackets and a price) of a shape no rule reads.
                None => unread += usize::from(unread_item(line, rx(&CODE_PAREN))),
            }
            continue;
        };
        let body = item[1].trim();
        if digits(body) == 0 {
            continue;
        }
        // "- n. 20 confezioni …", "Nr. 3 Kartons …": a number mark before the count and its
        // unit that start the item is the count's, no part of the name.
        let body = ["n.", "nr.", "n°", "nº"]
            .iter()
            .find_map(|m| {
                let head = body.get(..m.len())?;
                let rest = body[m.len()..].trim_start();
                (head.eq_ignore_ascii_case(m)
                    && rx(&QTY_X)?
                        .captures(rest)?
                        .get(0)
                        .is_some_and(|q| rest[..q.start()].trim().is_empty()))
                .then_some(rest)
            })
            .unwrap_or(body);
        // Only where no other quantity is written ("Eggs 12 (2 x 6) – 10 boxes @ …" counts
        // the boxes).
        let repacked = pack_note(body).filter(|(plain, _)| {
            ![&QTY_WORD, &QTY_X, &QTY_AFTER]
                .iter()
                .any(|q| rx(q).is_some_and(|r| r.is_match(plain)))
        });
        let body = repacked
            .as_ref()
            .map_or(body, |(_, counted)| counted.as_str());
        let price = rx(&PRICE)
            .and_then(|r| r.captures_iter(body).last())
            .or_else(|| rx(&PRICE_AFTER).and_then(|r| r.captures_iter(body).last()))
            .or_else(|| {
                rx(&PRICE_X)
                    .and_then(|r| r.captures(without_line_amount(body)))
                    .filter(|m| m.get(1).is_some() || m.get(3).is_some())
            })
            .or_else(|| dash_price(body));
        // "6 x Baking paper 40cm x 100m (BP-40-100) = $131.70": no price but the line's amount
        // after an equals sign, with its currency; the unit price is it divided by the count.
        let by_amount = price.is_none();
        let price = price.or_else(|| equals_amount(body));
        let by_amount = by_amount && price.is_some();
        // "1 box Raw sugar sticks (SUG-STK-2K) $44.90": an amount with its sign ends the item,
        // with no word for each nor an equals sign: the unit price, in doubt unless the
        // stated total confirms it.
        let bare = price.is_none();
        let price = price.or_else(|| rx(&END_PRICE).and_then(|r| r.captures(body)));
        let bare = bare && price.is_some();
        // After a dot leader ("Leche entera, caja 6 ud. ........ 25 cajas a 7,38 €") the
        // quantity is the one written after it, the name's pack size before it.
        let leader = body.find("..").filter(|at| {
            body[*at..].trim_start_matches(['.', ' ']).len() < body[*at..].len() - 2
                || body[*at..].starts_with("...")
        });
        let counted = leader.map_or(body, |at| &body[at..]);
        // "case of 500 x 4 @ $58.90": a pack size after "of" with the sign for times after
        // it is the pack's; the count is the number after the sign.
        let pack_times = pack_size_times(counted);
        // "12ケース × 3,400円": the number after the sign for times is the price's own, no
        // count.
        let price_at = price
            .as_ref()
            .and_then(|p| p.get(2))
            .and_then(|p| p.start().checked_sub(body.len() - counted.len()));
        let not_price =
            |m: &regex::Captures<'_>| m.get(1).is_none_or(|q| Some(q.start()) != price_at);
        let plain_counted = rx(&QTY_WORD)
            .and_then(|r| r.captures(counted))
            .filter(|m| m.get(0).is_none_or(|w| !size_times(counted, w.start())))
            .filter(not_price)
            .or_else(|| {
                pack_times.and_then(|at| rx(&QTY_AFTER).and_then(|r| r.captures_at(counted, at)))
            })
            // "擦手纸 200抽×24包　6箱": a pack written against the sign is no count.
            .or_else(|| {
                rx(&QTY_X).and_then(|r| {
                    r.captures_iter(counted)
                        .find(|m| m.get(0).is_none_or(|w| !size_times(counted, w.start())))
                })
            })
            .or_else(|| {
                rx(&QTY_AFTER)
                    .and_then(|r| r.captures(counted))
                    .filter(not_price)
            });
        // Only where no count of the usual shapes is written: "40 panetti x € 8,95 = …",
        // then a count with a Chinese measure word ("　6捲　").
        let unit_counted = plain_counted
            .is_none()
            .then(|| unit_times_price(counted))
            .flatten();
        let han = (plain_counted.is_none() && unit_counted.is_none())
            .then(|| {
                let before = price
                    .as_ref()
                    .and_then(|p| p.get(0))
                    .map_or(counted.len(), |p| p.start());
                han_count(counted, before)
            })
            .flatten();
        let unit_timed = unit_counted.is_some();
        let han_counted = leader.is_none() && han.is_some();
        let counted_by = plain_counted.or(unit_counted).or(han);
        let dash_counted = price.as_ref().and_then(|p| {
            let head = &body[..p.get(0)?.start()];
            let m = rx(&DASH_QTY_END)?
                .captures(head)
                .or_else(|| rx(&COLON_QTY)?.captures(head))?;
            Some((parse_quantity(&m[1], dc)?, m.get(0)?.start()))
        });
        // "- 2 Azúcar glas 10 kg (ref. AZ-GL-10) a 16,30 €": with no unit or sign, the
        // number that starts the item before a word that is no measure.
        let lead_counted = (dash_counted.is_none() && counted_by.is_none() && leader.is_none())
            .then(|| rx(&QTY_LEAD)?.captures(body))
            .flatten()
            .filter(|m| !MEASURES.contains(&m[2].to_lowercase().as_str()))
            .and_then(|m| Some((parse_quantity(&m[1], dc)?, m.get(1)?.end())));
        let quantity = match dash_counted {
            Some((q, _)) => Some(q),
            None => counted_by
                .as_ref()
                .and_then(|m| parse_quantity(&m[1], dc))
                .or(lead_counted.map(|(q, _)| q)),
        };
        // Counted only by the number that starts the name ("4 Season tyres"): a count only
        // when something confirms it (below).
        let lead_only = dash_counted.is_none()
            && counted_by
                .as_ref()
                .and_then(|m| parse_quantity(&m[1], dc))
                .is_none()
            && lead_counted.is_some();
        // Counted by a number and a unit word that start the item ("10 sacos …").
        let unit_led = leader.is_none()
            && counted_by.as_ref().and_then(|m| m.get(0)).is_some_and(|m| {
                counted[..m.start()].trim().is_empty()
                    && !counted[m.start()..]
                        .trim_start()
                        .trim_start_matches(|c: char| c.is_ascii_digit())
                        .trim_start()
                        .starts_with(['x', 'X', '×'])
            });
        if price.is_none() && !coded {
            if let Some(line) = priceless_item(body, dc).or_else(|| market_priced_item(body, dc)) {
                out.push((i, line));
                shapes.push((false, false));
                continue;
            }
        }
        let unpriced = price.is_none();
        // "味付メンマ 500g（NR-MM-500）　数量は追って連絡します　@760円": the quantity is
        // left to follow; the item is read without one, for a person to settle.
        let deferred = quantity
            .is_none()
            .then(|| deferred_quantity(body))
            .flatten();
        let quantity = quantity.or(deferred.map(|_| Decimal::ZERO));
        let (Some(quantity), Some(price)) = (quantity, price) else {
            match unit_led_priceless(body, dc).filter(|_| unpriced && unit_led) {
                Some(l) => priceless.push((i, l)),
                None => unread += usize::from(!coded),
            }
            continue;
        };
        // "10 o 12 baldes", "20 or 24 boxes": the sender has not decided the quantity; the
        // line is read without one, for a person to settle.
        re!(
            QTY_CHOICE,
            r"(?i)(?:^|\s)[0-9]+\s+(?:o|u|or|ou|oder|of|eller|tai|или|ή|veya|หรือ)\s+[0-9]+\s*[^\s0-9]"
        );
        let undecided = rx(&QTY_CHOICE).is_some_and(|r| r.is_match(counted));
        // The quantity written as `N x price` ending the item ("30 x £13.80"): the number
        // before the price is the quantity, not a part of the name.
        let quantity_at_price = leader.is_none()
            && counted_by
                .as_ref()
                .and_then(|m| m.get(0))
                .is_some_and(|m| price.get(0).is_some_and(|p| m.end() > p.start()));
        // "2 in 1 shampoo 250ml x 6": a count written after a size may be the pack's (a case
        // of six bottles) as well as the quantity ordered; only a stated total that the lines
        // add up to with it settles which ([`read_text`]).
        re!(
            SIZE_END,
            r"(?i)[0-9]+(?:[.,][0-9]+)?\s?(?:ml|cl|dl|l|ltr|g|gr|kg|oz|fl\.?\s?oz|lb|lbs)\.?\s*$"
        );
        let after_size = dash_counted.is_none()
            && leader.is_none()
            && !quantity_at_price
            && ![&QTY_WORD, &QTY_X]
                .iter()
                .any(|q| rx(q).is_some_and(|r| r.is_match(counted)))
            && rx(&QTY_AFTER)
                .and_then(|r| r.find(counted))
                .is_some_and(|m| rx(&SIZE_END).is_some_and(|r| r.is_match(&counted[..m.start()])));
        let pence = sterling
            && price.get(1).is_none()
            && price
                .get(3)
                .is_some_and(|u| u.as_str().eq_ignore_ascii_case("p"));
        let unit_price = parse_decimal(&price[2], dc).map(|p| {
            let after = price.get(2).map_or("", |g| &body[g.end()..]);
            let p = if pence { p / Decimal::ONE_HUNDRED } else { p };
            per_count(after, dc)
                .and_then(|n| p.checked_div(n))
                .map_or(p, |d| d.normalize())
        });
        let (unit_price, amount_doubt) = match unit_price {
            Some(a) if by_amount => amount_per_unit(a, quantity),
            p => (p, None),
        };
        let named = leader.map_or(body.len(), |at| at);
        let named = dash_counted.map_or(named, |(_, at)| at.min(named));
        let named = deferred.map_or(named, |at| at.min(named));
        let mut rest =
            body[..price.get(0).map_or(body.len(), |m| m.start()).min(named)].to_string();
        // "Vanilla syrup 750 ml ($7.90 each)": the price in brackets after the name.
        if let Some(open) = rest.trim_end().strip_suffix(['(', '（']) {
            rest = open.to_string();
        }
        let worded = code_word(&rest).map(|m| {
            let whole = m.get(0).map_or(0..0, |g| g.range());
            (m[1].to_string(), whole)
        });
        let paren = rx(&CODE_PAREN)
            .and_then(|r| r.captures(&rest))
            .filter(|m| !pack_bracket(&m[0]))
            .map(|m| {
                let whole = m.get(0).map_or(0..0, |g| g.range());
                (m[1].to_string(), whole)
            });
        // "8oz double wall cups, ctn 500 (CUP-8-DW) x 3 ctns": the count and its unit after the
        // code end the name (once the code is taken out, `500 x` would read as a count).
        re!(
            X_AFTER_END,
            r"(?i)^(.*\S)\s+[x×]\s?([0-9]{1,5})(?:\s+\p{L}{1,8}\.?)?\s*[-–—]?\s*$"
        );
        let mut x_after = false;
        if leader.is_none() {
            let cut = rx(&X_AFTER_END)
                .and_then(|r| r.captures(&rest))
                .filter(|m| parse_quantity(&m[2], dc) == Some(quantity))
                .and_then(|m| m.get(1).map(|g| g.end()));
            if let Some(at) = cut {
                rest.truncate(at);
                x_after = true;
            }
        }
        let mut sku = None;
        // A quantity and its unit leading the item ("2 stk. KF-901 Julekaffe"): the code
        // after them leads the name.
        let mut counted_first = false;
        if leader.is_none() {
            if let Some(m) = rx(&QTY_X).and_then(|r| r.captures(&rest)) {
                let whole = m.get(0).map_or(0..0, |g| g.range());
                let lead = rest[..whole.start].trim().is_empty();
                if lead && code_lead(rest[whole.end..].trim_start()).is_some() {
                    rest = rest[whole.end..].trim_start().to_string();
                    counted_first = true;
                }
            }
        }
        // A code that leads the item ("WCK-100 | Cotton wicks (100)") wins over a bracket,
        // which may be a pack size; a code written with its word ("5W-30 engine oil 5L, code
        // OIL-5W30-5") wins over a word that leads the name with a code's form.
        let lead = code_lead(&rest).or_else(|| {
            (dash_coded && coded && rx(&ITEM_CODE_DASH).is_some_and(|r| r.is_match(line)))
                .then(|| letter_code_lead(&rest))
                .flatten()
        });
        if let Some((code, name)) = lead.filter(|_| worded.is_none()) {
            sku = Some(code.to_string());
            rest = name.to_string();
        } else if let Some((code, whole)) = paren {
            rest.replace_range(whole, " ");
            sku = Some(code);
        } else if let Some((code, whole)) = worded {
            rest.replace_range(whole, " ");
            sku = Some(code);
        } else if let Some((at, code)) = trailing_capital_code(&rest).filter(|_| bracket_coded) {
            // "2x Drinking chocolate 1kg CH-PWD-1K @ 24.50" among items whose codes are in
            // brackets: a code of capitals, digits and dashes that ends the name unbracketed.
            sku = Some(code);
            rest.truncate(at);
        }
        // The name is what is left without the quantity (written after the leader, if any).
        let rest = match leader {
            Some(_) => rest,
            None if counted_first || x_after || dash_counted.is_some() => rest,
            None if lead_counted.is_some() => rest
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .to_string(),
            // The name ends where the choice of quantities starts.
            None if undecided => {
                let at = rx(&QTY_CHOICE)
                    .and_then(|r| r.find(&rest))
                    .map_or(rest.len(), |m| m.start());
                rest[..at].to_string()
            }
            // "牛皮紙捲 30cm×50m　6捲　@NT$280": the count and its measure word end the name.
            None if han_counted => {
                re!(HAN_COUNT_END, r"[ \t　]*[0-9]{1,5}\p{Han}[ \t　]*$");
                let at = rx(&HAN_COUNT_END)
                    .and_then(|r| r.find(&rest))
                    .map_or(rest.len(), |m| m.start());
                rest[..at].to_string()
            }
            // "Panna UHT 35%, brick 1 l: 24 brick x € 3,85": the name ends before the count.
            None if unit_timed => {
                re!(
                    UNIT_TIMES_END,
                    r"(?i)(?:^|[\s:：])[0-9]{1,5}(?:\s+\p{L}{1,12}\.?|[\p{Katakana}\p{Hiragana}\p{Han}ー]{1,6})(?:\s+[x×])?\s*$"
                );
                let at = rx(&UNIT_TIMES_END)
                    .and_then(|r| r.find(&rest))
                    .map_or(rest.len(), |m| m.start());
                rest[..at].to_string()
            }
            // "OM-12  Oat milk barista 1L x6 (case)     30": the quantity before the price.
            None if quantity_at_price && before_number(&rest).is_some() => {
                before_number(&rest).unwrap_or_default().to_string()
            }
            None => {
                // A pack size's "400g×30" stays in the name.
                let rest = match rx(&QTY_WORD) {
                    Some(r) => {
                        let mut kept = String::new();
                        let mut last = 0;
                        for m in r.find_iter(&rest) {
                            if !size_times(&rest, m.start()) {
                                kept.push_str(&rest[last..m.start()]);
                                kept.push(' ');
                                last = m.end();
                            }
                        }
                        kept.push_str(&rest[last..]);
                        kept
                    }
                    None => rest,
                };
                let pack_times = pack_size_times(&rest).is_some();
                // The first count that is no pack written against the sign ("200抽×24包").
                let count_x = rx(&QTY_X).and_then(|r| {
                    r.find_iter(&rest)
                        .find(|m| !size_times(&rest, m.start()))
                        .map(|m| m.range())
                });
                let after = pack_times || count_x.is_none();
                let rest = match count_x.filter(|_| !pack_times) {
                    Some(at) => format!("{} {}", &rest[..at.start], &rest[at.end..]),
                    None => rest,
                };
                // "Cà phê rang xay 500g (RB-500) x10": the quantity after the name.
                match rx(&QTY_AFTER).filter(|_| after) {
                    Some(r) => r.replacen(&rest, 1, " ").into_owned(),
                    None => rest,
                }
            }
        };
        // "6 cajas de Guantes de nitrilo …", "4 confezioni di …": the word that joins the
        // count's unit to the item is no part of the name.
        let rest = match leader {
            None if unit_led => unit_joined(&rest).to_string(),
            _ => rest,
        };
        let mut words: Vec<&str> = rest.split_whitespace().collect();
        // A unit word left behind by the quantity ("× 3 台，"); after a number it is the
        // name's pack size ("Servilletas 40x40, caja 1200 uds.").
        while words.last().is_some_and(|w| {
            let w = w.trim_end_matches([',', '，', ';', '；', '。', '.', ':', '：']);
            w.is_empty() || LIST_UNITS.contains(&w.to_lowercase().as_str())
        }) && !(words.len() >= 2
            && words[words.len() - 2].bytes().all(|b| b.is_ascii_digit()))
        {
            words.pop();
        }
        let mut name = words
            .join(" ")
            .trim_matches(|c: char| "-–—,，;；:：| ".contains(c))
            .to_string();
        // "5 Ring Art.-Nr. 11-3015 Mantelleitung …": the word between the count and the
        // code's label is the count's unit, no part of the name.
        if let Some(unit) = unit_before_code_label(body).map(|(u, _)| u) {
            if let Some(rest) = name.strip_prefix(unit).and_then(|r| r.strip_prefix(' ')) {
                name = rest.to_string();
            }
        }
        // What is left must read as a name: no bracket or code left over from the item's
        // parts (a shape the rules do not know).
        if leftover_code(&name) {
            unread += usize::from(!coded);
            continue;
        }
        out.push((
            i,
            Line {
                sku,
                name: Some(name).filter(|n| !n.is_empty()),
                spec: None,
                quantity: (!undecided && deferred.is_none()).then_some(quantity),
                unit_price,
                confidence: if undecided || deferred.is_some() {
                    0.5
                } else {
                    0.85 * ctx.trust
                },
                doubt: if undecided {
                    Some("lines: a quantity is written as a choice between two numbers".to_string())
                } else if deferred.is_some() {
                    Some("lines: a quantity is left to follow".to_string())
                } else {
                    amount_doubt
                        .or_else(|| after_size.then(|| PACK_COUNT_DOUBT.to_string()))
                        .or_else(|| bare.then(|| BARE_PRICE_DOUBT.to_string()))
                },
                discount: None,
            },
        ));
        shapes.push((lead_only, unit_led));
    }
    // "- 2 Azúcar glas 10 kg … a 16,30 €" among "- 10 sacos …", "- 6 cajas …": the list
    // counts every other item by the number that starts it, so this number is a count too.
    // Without that ("- 4 Season tyres @ £89.00", "- 3 Musketeers …") the number may be the
    // name's: the line is in doubt unless the stated total confirms it ([`read_text`]).
    let others_unit_led =
        shapes.iter().any(|(lead, _)| !lead) && shapes.iter().all(|(lead, unit)| *lead || *unit);
    if !others_unit_led {
        for ((_, l), _) in out.iter_mut().zip(&shapes).filter(|(_, (lead, _))| *lead) {
            if l.doubt.is_none() {
                l.doubt = Some(LEAD_COUNT_DOUBT.to_string());
            }
        }
    }
    if unread > 0 && !(out.is_empty() && read.is_empty()) {
        doubts.push(format!(
            "lines: {unread} item line(s) of the list could not be read"
        ));
    }
    // "2 ctn Chilli sauce 5kg x 4 - pls confirm price first" among priced items: an item of
    // the order whose price the sender leaves open; read without one, for a person to settle.
    if !(out.is_empty() && read.is_empty()) {
        for (i, l) in priceless {
            let at = out.partition_point(|(k, _)| *k < i);
            out.insert(at, (i, l));
        }
    }
    out
}

/// An item line that names no count nor price joined with the line under it that gives them
/// ("(1) 中太ちぢれ麺 150g（40玉入）　品番：MN-F150" over "    12ケース × 3,400円 ＝ 40,800円"):
/// the item starts with a list mark, the line under it is indented further, starts with its
/// count and writes the sign for times (or `@`) before a number.
fn count_under(line: &str, next: &str) -> Option<String> {
    re!(
        MARKED,
        r"^\s*(?:[(（][0-9０-９]{1,2}[)）]|[0-9]{1,2}[.)]|[-*•·–・])\s*\S"
    );
    re!(
        COUNT_TIMES,
        r"^[0-9]{1,5}\s*[^\s0-9]{0,8}\s*(?:[x×@]|\*)\s*(?:[$£€¥￥₹]|[A-Z]{3}\s?)?\s*[0-9]"
    );
    let indent = |s: &str| s.len() - s.trim_start().len();
    let item = line.trim();
    let count = next.trim();
    let priced = |s: &str| {
        s.contains(['×', '@', '=', '＝', '$', '£', '€', '¥', '￥', '円', '元'])
            || rx(&QTY_AFTER).is_some_and(|r| r.is_match(s))
    };
    (rx(&MARKED)?.is_match(line)
        && !priced(item)
        && indent(next) > indent(line)
        && !rx(&MARKED)?.is_match(next)
        && rx(&COUNT_TIMES)?.is_match(count))
    .then(|| format!("{item} {count}"))
}

/// How many lines write an item's code in brackets (`(CF-HSE-1K)`: capitals and digits with
/// a dash, a dot or a slash inside), not counting quoted lines.
fn bracketed_code_lines(lines: &[&str]) -> usize {
    re!(BRACKETED_CODE, r"[(（]([A-Z0-9]+(?:[-_./][A-Z0-9]+)+)[)）]");
    let Some(r) = rx(&BRACKETED_CODE) else {
        return 0;
    };
    lines
        .iter()
        .take(2_000)
        .filter(|l| !l.trim_start().starts_with('>'))
        .filter(|l| {
            r.captures_iter(l)
                .any(|m| m[1].chars().any(|c| c.is_ascii_digit()))
        })
        .count()
}

/// A code that ends an item's words unbracketed (`Drinking chocolate 1kg CH-PWD-1K`): the
/// last word, of capitals and digits with a dash inside, two capitals or more before the
/// first dash and a digit after it (`CH-PWD-1K`, not `1kg`). Taken only where other items
/// of the list write their codes in brackets. The byte where the name ends, and the code.
fn trailing_capital_code(rest: &str) -> Option<(usize, String)> {
    re!(TRAILING_CODE, r"\s([A-Z]{2,}[A-Z0-9]*(?:-[A-Z0-9]+)+)\s*$");
    let m = rx(&TRAILING_CODE)?.captures(rest)?;
    let code = m.get(1)?;
    let after_dash = &code.as_str()[code.as_str().find('-')?..];
    (after_dash.chars().any(|c| c.is_ascii_digit()) && code.as_str().len() >= 5)
        .then(|| (m.get(0).map_or(0, |g| g.start()), code.as_str().to_string()))
}

/// Whether `line`, which no item rule read, still reads as an item of the order: a code in
/// brackets (`code`, [`list_lines`]'s) and a price with its currency sign or after `@`
/// ("8oz double wall cups, ctn 500 (CUP-8-DW) x 3 ctns $96.00/ctn"); not a total's row nor a
/// quoted line.
fn unread_item(line: &str, code: Option<&Regex>) -> bool {
    re!(
        SIGNED_PRICE,
        r"(?:[$£€¥₹₱₦]|@)\s*[0-9]|[0-9][0-9.,]*\s*(?:€|zł|kč)"
    );
    let t = line.trim_start();
    !t.starts_with('>')
        && !is_total_row(t)
        && code.is_some_and(|r| r.is_match(t))
        && rx(&SIGNED_PRICE).is_some_and(|r| r.is_match(t))
}

/// Where an item's words say its quantity will follow ("数量は追って連絡します", "qty to
/// follow", "Menge folgt", "cantidad por confirmar"): the byte offset of the phrase, which
/// ends the item's name.
fn deferred_quantity(body: &str) -> Option<usize> {
    re!(
        QTY_LATER,
        r"(?i)数量は?(?:追って|後ほど|未定|確認中)|数量(?:待定|另行通知|待確認|待确认)|(?:^|\s)(?:quantity|qty\.?)\s+(?:to\s+follow|tbc|tbd|to\s+be\s+confirmed)\b|(?:^|\s)menge\s+(?:folgt|noch\s+offen)\b|(?:^|\s)cantidad\s+(?:por|a)\s+confirmar\b|(?:^|\s)quantité\s+à\s+confirmer\b|(?:^|\s)quantità\s+da\s+confermare\b|(?:^|\s)hoeveelheid\s+volgt\b|(?:^|\s)quantidade\s+a\s+confirmar\b"
    );
    rx(&QTY_LATER)?.find(body).map(|m| m.start())
}

/// The item after a count and its unit word, without the preposition that joins the unit to
/// it: "6 cajas de Guantes de nitrilo" → "Guantes de nitrilo", "4 confezioni di …", "10
/// caixas de …", "40 boxes of Colored Pencils", "3 bidons d'huile" → "huile". Only a word
/// follows it ("2 boxes of 50 …" is a pack size, read with the unit).
fn unit_joined(rest: &str) -> &str {
    let t = rest.trim_start();
    for p in ["de ", "di ", "of ", "d'", "d’"] {
        let after = t
            .get(..p.len())
            .filter(|h| h.eq_ignore_ascii_case(p))
            .map(|_| t[p.len()..].trim_start());
        if let Some(after) = after.filter(|a| a.starts_with(char::is_alphabetic)) {
            return after;
        }
    }
    rest
}

/// An item that starts with its quantity and a unit word and names no price ("2 ctn Chilli
/// sauce 5kg x 4 - the new one, pls confirm price first"): the quantity, the name up to a
/// remark after a dash, the code in brackets if any; in doubt, its price unwritten.
fn unit_led_priceless(line: &str, decimal_comma: bool) -> Option<Line> {
    re!(
        UNIT_LED,
        r"(?i)^\s*(?:[-*•·–]\s+)?([0-9]{1,5})\s+(?:sacks?|bags?|boxe?s|box|tubs?|cases?|cartons?|ctns?\.?|packs?|bottles?|tins?|trays?|kasser?|stk\.?|pcs\.?|paquetes?|botellas?|cajas?|uds?\.?|kotak|pek|paket|karung|botol|bal\.?|ks\.?|kom\.?|kpl\.?|gab\.?|szt\.?|tk\.?|jars?|kegs?|pails?|buckets?|crates?|rolls?|pallets?|bundles?)\s+(\p{L}.*)$"
    );
    re!(
        CODE_BRACKET,
        r"[(（]\s*([A-Za-z0-9]+[-_./][A-Za-z0-9._/-]*[0-9A-Za-z])\s*[)）]"
    );
    // A price or a currency anywhere makes it a priced item, another rule's.
    if line.contains(['@', '$', '€', '£', '¥', '₹', '₪', '=']) || currency_mark(line).is_some()
    {
        return None;
    }
    let m = rx(&UNIT_LED)?.captures(line)?;
    let quantity = parse_quantity(&m[1], decimal_comma)?;
    let mut rest = unit_joined(&m[2]).to_string();
    // The remark after a dash ("- the new one u showed me") is no part of the name.
    if let Some(at) = [" - ", " – ", " — "]
        .iter()
        .filter_map(|d| rest.find(d))
        .min()
    {
        rest.truncate(at);
    }
    let mut sku = None;
    if let Some(c) = rx(&CODE_BRACKET).and_then(|r| r.captures(&rest)) {
        let code = c[1].to_string();
        if code.chars().any(|ch| ch.is_ascii_digit()) {
            let whole = c.get(0)?.range();
            rest.replace_range(whole, " ");
            sku = Some(code);
        }
    }
    let name = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = name
        .trim_matches(|c: char| "-–—,;: ".contains(c))
        .to_string();
    if name.is_empty() || leftover_code(&name) || name.split_whitespace().count() > 10 {
        return None;
    }
    Some(unpriced_line(sku, name, quantity))
}

/// Where the message's text and an attachment both state an item's quantity and disagree
/// ("20 cajas de aceite …" in the body, 25 on the PDF): that quantity is not known, so it is
/// left out and the line put in doubt. An item of the text is a line that starts with its
/// quantity (after a bullet, if any) and names it by words the attachment's line also holds
/// (two at least, and most of the item's words). Returns the doubts.
pub fn disagreeing_quantities(text: &str, lines: &mut [Line]) -> Vec<String> {
    re!(
        COUNTED_ITEM,
        r"^\s*(?:[-*•·–]\s*)?([0-9]{1,5})\s*(?:x|×)?\s+(\p{L}.*)$"
    );
    fn words(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3 && w.chars().any(char::is_alphabetic))
            .map(str::to_lowercase)
            .collect()
    }
    let mut doubts = Vec::new();
    let Some(re) = rx(&COUNTED_ITEM) else {
        return doubts;
    };
    for row in text.lines().take(2_000) {
        let Some(m) = re.captures(row) else {
            continue;
        };
        let Ok(quantity) = Decimal::from_str(&m[1]) else {
            continue;
        };
        let item = words(&m[2]);
        if item.len() < 2 {
            continue;
        }
        // The attachment's line this item names best.
        let best = lines
            .iter_mut()
            .filter_map(|l| {
                let name = words(l.name.as_deref()?);
                let shared = item.iter().filter(|w| name.contains(w)).count();
                (shared >= 2 && shared * 5 >= item.len() * 3).then_some((shared, l))
            })
            .max_by_key(|(shared, _)| *shared);
        if let Some((_, l)) = best {
            if l.quantity.is_some_and(|q| q != quantity) {
                l.quantity = None;
                l.confidence = l.confidence.min(0.5);
                let why = "lines: the message and its attachment state different quantities \
                           for an item"
                    .to_string();
                l.doubt = Some(why.clone());
                if !doubts.contains(&why) {
                    doubts.push(why);
                }
            }
        }
    }
    doubts
}

/// Items of a web form's notification: numbered fields ("Product 1: 12 oz pouch (SKU
/// SUP-12-KV) - $0.46 ea" with "Quantity 1: 2000", Contact Form 7), or a product with its
/// price and quantity in brackets ("Oat Milk 1L (case of 12) (Amount: 16.80 GBP, Quantity:
/// 4)", Jotform's payment field). A field left at its placeholder ("-- select --", no
/// quantity) is no item.
fn form_items(lines: &[&str], decimal_comma: bool) -> Vec<(usize, Line)> {
    re!(
        PRODUCT_N,
        r"(?i)^\s*(?:product|item|article|produkt|artikel|produit|producto|prodotto|produto)\s*#?\s*([0-9]{1,2})\s*[:：]\s*(.*)$"
    );
    re!(
        QUANTITY_N,
        r"(?i)^\s*(?:quantity|qty|menge|anzahl|quantité|qté|cantidad|quantità|quantidade|aantal)\s*#?\s*([0-9]{1,2})\s*[:：]\s*([0-9][0-9.,]*)?\s*$"
    );
    re!(
        PRICED_BRACKET,
        r"(?i)^(?:[^\t]*\t)?(\S.*?)\s*\(\s*(?:amount|price|unit\s+price)\s*:\s*(?:[$£€]\s*)?([0-9][0-9.,]*)\s*(?:[A-Z]{3})?\s*,\s*(?:quantity|qty)\s*:\s*([0-9]{1,6})\s*(?:,[^)]*)?\)\s*$"
    );
    re!(
        PRICE_END,
        r"(?i)\s[-–—]\s*(?:US\$|\$|£|€|[A-Z]{3}\s?)?\s*([0-9][0-9.,]*)\s*(?:[A-Z]{3}|€|£)?\s*(?:ea\.?|each|apiece|per\s+\p{L}+|/\s*\p{L}+)?\s*$"
    );
    re!(
        CODE_NAMED,
        r"(?i)\(\s*(?:sku|code|item\s*(?:no\.?|#)|part\s*(?:no\.?|#)|art\.?\s*-?nr\.?|ref\.?)\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9._/-]*[0-9A-Za-z])\s*\)"
    );
    let mut out = Vec::new();
    let line = |sku: Option<String>, name: String, quantity, unit_price| Line {
        sku,
        name: Some(name).filter(|n| !n.is_empty()),
        spec: None,
        quantity,
        unit_price,
        confidence: 0.85,
        doubt: None,
        discount: None,
    };
    let quantities: Vec<(String, Option<Decimal>)> = lines
        .iter()
        .filter_map(|l| {
            let m = rx(&QUANTITY_N)?.captures(l)?;
            let q = m
                .get(2)
                .and_then(|q| parse_quantity(q.as_str(), decimal_comma));
            Some((m[1].to_string(), q))
        })
        .collect();
    for (i, l) in lines.iter().enumerate().take(2_000) {
        if let Some(m) = rx(&PRICED_BRACKET).and_then(|r| r.captures(l)) {
            let name = m[1].trim().to_string();
            if leftover_code(&name) {
                continue;
            }
            let (q, p) = (
                parse_quantity(&m[3], decimal_comma),
                parse_decimal(&m[2], decimal_comma),
            );
            out.push((i, line(None, name, q, p)));
            continue;
        }
        let Some(m) = rx(&PRODUCT_N).and_then(|r| r.captures(l)) else {
            continue;
        };
        let Some(quantity) = quantities
            .iter()
            .find(|(n, _)| *n == m[1])
            .and_then(|(_, q)| *q)
        else {
            continue;
        };
        let mut rest = m[2].trim().to_string();
        let mut unit_price = None;
        if let Some(p) = rx(&PRICE_END).and_then(|r| r.captures(&rest)) {
            unit_price = parse_decimal(&p[1], decimal_comma);
            let at = p.get(0).map_or(rest.len(), |g| g.start());
            rest.truncate(at);
        }
        let mut sku = None;
        if let Some(c) = rx(&CODE_NAMED).and_then(|r| r.captures(&rest)) {
            sku = Some(c[1].to_string());
            let whole = c.get(0).map_or(0..0, |g| g.range());
            rest.replace_range(whole, " ");
        }
        let name = rest.split_whitespace().collect::<Vec<_>>().join(" ");
        let name = name
            .trim_matches(|c: char| "-–—,;: ".contains(c))
            .to_string();
        if name.is_empty() || leftover_code(&name) || !name.chars().any(char::is_alphabetic) {
            continue;
        }
        out.push((i, line(sku, name, Some(quantity), unit_price)));
    }
    out
}

/// Items written as blocks of labelled fields, one field a line and a blank line between
/// items ("Item: Foil roll 100m x 12cm" / "Code: FL-900" / "Qty: 4 rolls" / "Price: £9.95
/// each"). A block needs its name and a quantity; quoted lines (">") are no part of one.
fn field_blocks(lines: &[&str], decimal_comma: bool) -> Vec<(usize, Line)> {
    re!(
        FIELD_LINE,
        r"(?i)^\s*(item|product|description|code|sku|item\s+code|product\s+code|qty|quantity|price|unit\s+price)\s*:\s*(\S.*?)\s*$"
    );
    re!(FIELD_QTY, r"(?i)^([0-9]{1,6})(?:\s+\p{L}+\.?)?$");
    re!(
        FIELD_PRICE,
        r"(?i)^(?:US\$|\$|£|€|R)?\s?([0-9][0-9.,]*)\s*(?:[A-Z]{3})?\s*(?:ea\.?|each|apiece|per\s+\p{L}+|/\s*\p{L}+)?$"
    );
    let mut out = Vec::new();
    let mut i = 0;
    let n = lines.len().min(2_000);
    while i < n {
        let start = i;
        let mut fields: Vec<(String, String)> = Vec::new();
        while i < n {
            let Some(m) = rx(&FIELD_LINE).and_then(|r| r.captures(lines[i])) else {
                break;
            };
            let label = m[1].split_whitespace().collect::<Vec<_>>().join(" ");
            fields.push((label.to_lowercase(), m[2].to_string()));
            i += 1;
        }
        if fields.len() < 2 {
            i = start + 1;
            continue;
        }
        let get = |keys: &[&str]| {
            fields
                .iter()
                .find(|(k, _)| keys.contains(&k.as_str()))
                .map(|(_, v)| v.clone())
        };
        let name = get(&["item", "product", "description"]);
        let quantity = get(&["qty", "quantity"])
            .and_then(|q| rx(&FIELD_QTY)?.captures(&q).map(|m| m[1].to_string()))
            .and_then(|q| parse_quantity(&q, decimal_comma));
        let (Some(name), Some(quantity)) = (name, quantity) else {
            continue;
        };
        if !name.chars().any(char::is_alphabetic) {
            continue;
        }
        let unit_price = get(&["price", "unit price"])
            .and_then(|p| rx(&FIELD_PRICE)?.captures(&p).map(|m| m[1].to_string()))
            .and_then(|p| parse_decimal(&p, decimal_comma));
        let sku = get(&["code", "sku", "item code", "product code"])
            .filter(|c| !c.contains(char::is_whitespace));
        out.push((
            start,
            Line {
                sku,
                name: Some(name),
                spec: None,
                quantity: Some(quantity),
                unit_price,
                confidence: 0.85,
                doubt: None,
                discount: None,
            },
        ));
    }
    // One block alone is no list of items (a single "Item:" and "Qty:" may be anything).
    if out.len() < 2 {
        out.clear();
    }
    out
}

/// Items written one line each with their fields labelled inside it ("１．品番：HK-W-S
/// 化粧箱 白 小（90×90×40mm）　数量：500枚　単価：38円"): the code after its label, the name
/// between it and the quantity's label, the quantity and the unit price after theirs. A
/// line is read only when all four are there (a size inside the name is no quantity).
fn labelled_field_items(lines: &[&str], decimal_comma: bool) -> Vec<(usize, Line)> {
    re!(
        FIELD_CODE,
        r"(?:品番|品號|品号|型番|商品コード|商品番号|货号|貨號|商品编码|商品編碼)\s*[:：]\s*([A-Za-z0-9][A-Za-z0-9._/-]*)"
    );
    re!(
        FIELD_QTY,
        r"(?:数量|數量)\s*[:：]\s*([0-9][0-9,]*)\s*\p{L}{0,3}"
    );
    re!(
        FIELD_PRICE,
        r"(?:単価|單價|单价)\s*[:：]\s*(?:[¥￥]|NT\$|HK\$)?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:円|元|圓)?"
    );
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().take(2_000) {
        if l.trim_start().starts_with('>') {
            continue;
        }
        let (Some(code), Some(qty), Some(price)) = (
            rx(&FIELD_CODE).and_then(|r| r.captures(l)),
            rx(&FIELD_QTY).and_then(|r| r.captures(l)),
            rx(&FIELD_PRICE).and_then(|r| r.captures(l)),
        ) else {
            continue;
        };
        let (Some(c), Some(q)) = (code.get(0), qty.get(0)) else {
            continue;
        };
        if c.end() > q.start() {
            continue;
        }
        let name = l[c.end()..q.start()]
            .trim_matches(|ch: char| ch.is_whitespace() || ch == '　')
            .to_string();
        if !name.chars().any(char::is_alphabetic) {
            continue;
        }
        let (Some(quantity), Some(unit_price)) = (
            parse_quantity(&qty[1].replace(',', ""), decimal_comma),
            parse_decimal(&price[1], false),
        ) else {
            continue;
        };
        out.push((
            i,
            Line {
                sku: Some(code[1].to_string()),
                name: Some(name),
                spec: None,
                quantity: Some(quantity),
                unit_price: Some(unit_price),
                confidence: 0.85,
                doubt: None,
                discount: None,
            },
        ));
    }
    out
}

/// Items written one line each as fields between separators, the code after its word
/// ("Ref. ACE-500 · Aceite de oliva 500 ml · 24 uds × 6,95 € = 166,80 €", "Item 1 – Cód.
/// 4471 – Queijo minas 1 kg – 30 un – R$ 32,90/un – R$ 987,00"): a labelled code, the name,
/// a count with its unit, its price with a currency (or per unit) and the line's amount
/// after them. A line is read only when it reads whole; an amount that is not the count
/// times the price puts it in doubt. Two such lines at least make a list.
fn segment_items(lines: &[&str], decimal_comma: bool) -> Vec<(usize, Line)> {
    re!(
        SEG_ITEM_NO,
        r"(?i)^(?:item|pos\.?|posição|posicion|posición|artículo|línea|riga|n[°º.]?)\s*[0-9]{1,3}$"
    );
    re!(
        SEG_CODE,
        r"(?i)^(?:ref\.?|réf\.?|referencia|referência|cód\.?|cod\.?|código|codigo|codice|art\.?(?:-?nr\.?)?|artikelnr\.?|sku|code)\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9._/-]*)$"
    );
    re!(
        SEG_QTY,
        r"(?i)^([0-9]{1,5})\s*(?:\p{L}{1,10}\.?)?(?:\s*[x×]\s*((?:R|US|C|A)\$|[$€£]|EUR|BRL|USD|GBP)?\s*([0-9][0-9.,]*[0-9]|[0-9])\s*([€$£]|EUR)?(?:\s*=\s*((?:R|US|C|A)\$|[$€£]|EUR|BRL|USD|GBP)?\s*([0-9][0-9.,]*[0-9]|[0-9])\s*([€$£]|EUR)?)?)?$"
    );
    re!(
        SEG_PRICE,
        r"(?i)^((?:R|US|C|A)\$|[$€£]|EUR|BRL|USD|GBP)?\s*([0-9][0-9.,]*[0-9]|[0-9])\s*([€$£]|EUR)?\s*(/\s*\p{L}{1,6}\.?)?$"
    );
    let money = |m: &regex::Captures, at: usize| -> Option<Decimal> {
        let marked = m.get(at).is_some() || m.get(at + 2).is_some();
        marked
            .then(|| parse_decimal(&m[at + 1], decimal_comma))
            .flatten()
    };
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().take(2_000) {
        let l = l.trim();
        if l.starts_with('>') {
            continue;
        }
        let Some(sep) = [" · ", " – ", " — ", " | "]
            .into_iter()
            .find(|s| l.matches(s).count() >= 2)
        else {
            continue;
        };
        let mut segs: Vec<&str> = l.split(sep).map(str::trim).collect();
        if rx(&SEG_ITEM_NO).is_some_and(|r| r.is_match(segs[0])) {
            segs.remove(0);
        }
        let Some(sku) = segs
            .first()
            .and_then(|s| {
                rx(&SEG_CODE)?
                    .captures(s)
                    .map(|m| m[1].to_string())
                    .or_else(|| bare_segment_code(s))
            })
            .filter(|c| c.chars().any(|d| d.is_ascii_digit()))
        else {
            continue;
        };
        let Some(name) = segs
            .get(1)
            .filter(|n| n.chars().next().is_some_and(char::is_alphabetic))
            .map(|n| n.to_string())
        else {
            continue;
        };
        let Some(q) = segs.get(2).and_then(|s| rx(&SEG_QTY)?.captures(s)) else {
            continue;
        };
        let Some(quantity) = parse_quantity(&q[1], decimal_comma) else {
            continue;
        };
        let mut rest = segs[3..].iter();
        let (unit_price, amount) = if q.get(3).is_some() {
            if segs.len() > 3 {
                continue;
            }
            (money(&q, 2), q.get(6).and_then(|_| money(&q, 5)))
        } else {
            let price = rest.next().and_then(|s| rx(&SEG_PRICE)?.captures(s));
            let price = price.and_then(|m| {
                if m.get(4).is_some() {
                    parse_decimal(&m[2], decimal_comma)
                } else {
                    money(&m, 1)
                }
            });
            let amount = rest
                .next()
                .and_then(|s| rx(&SEG_PRICE)?.captures(s))
                .filter(|m| m.get(4).is_none())
                .and_then(|m| money(&m, 1));
            if rest.next().is_some() {
                continue;
            }
            (price, amount)
        };
        let Some(unit_price) = unit_price else {
            continue;
        };
        let doubt = amount
            .is_some_and(|a| line_amount(quantity, unit_price, None) != a)
            .then(|| "lines: a line's quantity × unit price is not its amount".to_string());
        out.push((
            i,
            Line {
                sku: Some(sku),
                name: Some(name),
                spec: None,
                quantity: Some(quantity),
                unit_price: Some(unit_price),
                confidence: if doubt.is_some() { 0.5 } else { 0.85 },
                doubt,
                discount: None,
            },
        ));
    }
    if out.len() < 2 {
        out.clear();
    }
    out
}

/// A code written alone as the first segment of an item (`AM-GEL-30 – Gel de ducha – 600
/// uds. – 0,19 €/ud.`), without a word naming it: capitals and digits joined by separators,
/// with both a letter and a digit.
fn bare_segment_code(seg: &str) -> Option<String> {
    re!(BARE_SEG_CODE, r"^[A-Z0-9]+(?:[-_./][A-Z0-9]+)+$");
    let seg = seg.trim();
    (rx(&BARE_SEG_CODE)?.is_match(seg)
        && seg.chars().any(|c| c.is_ascii_uppercase())
        && seg.chars().any(|c| c.is_ascii_digit()))
    .then(|| seg.to_string())
}

/// Why an item read from a sentence is held until a stated total confirms it.
const SENTENCE_DOUBT: &str =
    "lines: items were read from sentences, and no stated total confirms them";

/// Items written one sentence each: a count, the item's name, its code in brackets and its
/// price ("Please send 3 of the 12oz tumblers (TMB-12) at $14.50 each", "40 boxes of Colored
/// Pencils 24ct (CP-24) at $3.85 a box", "15 packs of Glue Sticks 12-pack (GS-12PK), $6.20 per
/// pack"). Two such sentences at least make a list.
/// Items pasted from a chat, one a line: the code, the name, the sign for times and the
/// count with its counter, then the unit price after its word ("AB-12 Sesamöl 1L × 6瓶
/// 单价45", "K-7 Kaffee 500g x 4 Stk. Preis 8,90"). The last sign for times before the count
/// is the quantity's; one in the name ("5L*4") stays in it.
fn labelled_price_items(lines: &[&str], ctx: &Ctx) -> Vec<(usize, Line)> {
    re!(
        LABELLED_PRICE_ITEM,
        r"(?i)^\s*(?:[-*•·]\s*)?([A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)+)\s+(\S.*?)\s*[×x]\s*([0-9]{1,5})\s*(?:\p{Han}|[a-z]{1,6}\.?)?\s*[,，]?\s*(?:单价|單價|単価|unit\s+price|price|preis|prix|precio|prezzo|preço)\s*[:：]?\s*(?:[¥￥€$£]|RMB|CNY)?\s*([0-9][0-9,.]*)\s*(?:元|圓|円|eur|usd|€)?\s*$"
    );
    let dc = ctx.decimal_comma();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().take(2_000) {
        let Some(m) = rx(&LABELLED_PRICE_ITEM).and_then(|r| r.captures(l)) else {
            continue;
        };
        let code = &m[1];
        if !(code.chars().any(|c| c.is_ascii_alphabetic())
            && code.chars().any(|c| c.is_ascii_digit()))
        {
            continue;
        }
        let (Some(quantity), Some(price)) = (parse_quantity(&m[3], dc), parse_decimal(&m[4], dc))
        else {
            continue;
        };
        out.push((
            i,
            Line {
                sku: Some(code.to_string()),
                name: Some(m[2].trim().to_string()),
                spec: None,
                quantity: Some(quantity),
                unit_price: Some(price),
                confidence: (0.85 * ctx.trust).clamp(0.0, 1.0),
                doubt: None,
                discount: None,
            },
        ));
    }
    // One such line alone is no list.
    if out.len() < 2 {
        out.clear();
    }
    out
}

fn sentence_items(lines: &[&str], decimal_comma: bool) -> Vec<(usize, Line)> {
    re!(
        SENTENCE_ITEM,
        r"(?i)(?:^|\s)([0-9]{1,5})\s+(?:[a-z]+\s+of\s+|of\s+)?(?:the\s+)?([^\s()0-9$£€][^()$£€]*?|[0-9]+[a-z]+\s[^()$£€]*?)\s*\((?-i:([A-Z0-9]+(?:[-./][A-Z0-9]+)*))\)\s*,?\s*(?:at\s+|for\s+|@\s*)?(?:US\$|\$|£|€)\s?([0-9][0-9,]*(?:\.[0-9]{2})?)(?:\s|[.,;!]|$)"
    );
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().take(2_000) {
        if l.trim_start().starts_with('>') {
            continue;
        }
        let Some(m) = rx(&SENTENCE_ITEM).and_then(|r| r.captures(l)) else {
            continue;
        };
        let code = m[3].to_string();
        if !code.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        let name = m[2].split_whitespace().collect::<Vec<_>>().join(" ");
        out.push((
            i,
            Line {
                sku: Some(code),
                name: Some(name),
                spec: None,
                quantity: parse_quantity(&m[1], decimal_comma),
                unit_price: parse_decimal(&m[4], decimal_comma),
                confidence: 0.8,
                doubt: Some(SENTENCE_DOUBT.to_string()),
                discount: None,
            },
        ));
    }
    if out.len() < 2 {
        out.clear();
    }
    out
}

/// Whether an address is a machine's that sends web forms' notifications (a website's
/// `wordpress@`, a form service's `noreply@`), not a person's.
pub fn automated_sender(address: &str) -> bool {
    let local = address
        .split('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace(['_', '.'], "-");
    [
        "wordpress",
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "forms",
        "form",
        "webform",
        "web-form",
        "contact-form",
        "notifications",
        "notification",
        "notify",
        "mailer",
        "webmaster",
        "website",
        "submissions",
    ]
    .contains(&local.as_str())
}

/// The person who filled in a web form, as its fields give them: a `From: Name <address>`
/// line (Contact Form 7), else the `Name`, `Email` and `Phone` fields (after a colon or in
/// the cell beside the label). Returns the name, the e-mail address and the phone.
pub fn form_submitter(text: &str) -> (Option<String>, Option<String>, Option<String>) {
    re!(
        FROM_LINE,
        r"(?i)^\s*from\s*:\s*([^<>\n]*?)\s*<\s*([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})\s*>\s*$"
    );
    const NAME: &[&str] = &[
        "name",
        "your name",
        "full name",
        "contact name",
        "name (first last)",
        "first and last name",
        "nom",
        "nom complet",
        "votre nom",
        "naam",
        "nombre",
        "nome",
        "ihr name",
    ];
    const FIRST_NAME: &[&str] = &[
        "first name",
        "given name",
        "prénom",
        "vorname",
        "nombre de pila",
    ];
    const LAST_NAME: &[&str] = &[
        "last name",
        "surname",
        "family name",
        "nom de famille",
        "nachname",
        "apellido",
        "apellidos",
    ];
    const EMAIL_LABELS: &[&str] = &[
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "your email",
        "your e-mail",
        "courriel",
        "adresse e-mail",
        "correo electrónico",
        "e-mailadres",
    ];
    const PHONE_LABELS: &[&str] = &[
        "phone",
        "phone number",
        "your phone",
        "telephone",
        "telephone number",
        "tel",
        "mobile",
        "mobile number",
        "téléphone",
        "telefon",
        "teléfono",
        "telefoon",
        "telefono",
    ];
    let (mut name, mut email, mut phone) = (None, None, None);
    let (mut first, mut last) = (None, None);
    let all: Vec<&str> = text.lines().take(2_000).collect();
    for (i, l) in all.iter().enumerate() {
        if let Some(m) = rx(&FROM_LINE).and_then(|r| r.captures(l)) {
            if email.is_none() {
                let n = m[1].trim().trim_matches('"').trim();
                name = Some(n.to_string()).filter(|n| !n.is_empty()).or(name);
                email = Some(m[2].to_string());
            }
            continue;
        }
        // "Name: …", a label and its value in two cells, or a label alone on its line with
        // its value on the next ("Name" / "Marcus Delgado", as some form plugins write).
        let (label, value) = match l.split_once(':').or_else(|| l.split_once('\t')) {
            Some((label, value)) => (label, value.trim()),
            None => match all.get(i + 1) {
                Some(next) if !next.trim().is_empty() && !next.contains(':') => (*l, next.trim()),
                _ => continue,
            },
        };
        let label = norm_label(label.trim_matches(|c: char| c == '-' || c.is_whitespace()));
        if value.is_empty() {
            continue;
        }
        if FIRST_NAME.contains(&label.as_str()) {
            first = first.or(Some(value.to_string()));
        } else if LAST_NAME.contains(&label.as_str()) {
            last = last.or(Some(value.to_string()));
        } else if NAME.contains(&label.as_str()) && name.is_none() && digits(value) == 0 {
            name = Some(value.to_string());
        } else if EMAIL_LABELS.contains(&label.as_str()) && email.is_none() {
            email = rx(&EMAIL)
                .and_then(|r| r.find(value))
                .map(|m| m.as_str().to_string());
        } else if PHONE_LABELS.contains(&label.as_str()) && phone.is_none() {
            phone = rx(&PHONE)
                .and_then(|r| r.find(value))
                .map(|m| m.as_str().trim().to_string())
                .filter(|p| (7..=15).contains(&digits(p)));
        }
    }
    if name.is_none() {
        name = match (first, last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (f, l) => f.or(l),
        };
    }
    (name, email, phone)
}

/// The change a repeat order writes in a sentence ("same as last week, only make it 20 bags
/// of the wholemeal instead of 10"): the item by the words it is named by, its new quantity,
/// no price; in doubt, for a person to complete the order from the earlier one.
pub fn changed_item(text: &str) -> Option<Line> {
    re!(
        INSTEAD_OF,
        r"(?i)(?:^|\s)([0-9]{1,5})\s+(?:(?:bags|boxes|cases|sacks|packs|bottles|units|cartons|tubs|trays|x)\s+)?(?:of\s+)?(?:the\s+)?([^\s0-9,.;:!?][^0-9,.;:!?]{0,40}?)\s+(?:instead\s+of|rather\s+than)\s+[0-9]{1,5}\b"
    );
    let m = rx(&INSTEAD_OF)?.captures(text)?;
    let name = m.get(2)?.as_str().trim();
    Some(Line {
        sku: None,
        name: Some(name.to_string()).filter(|n| !n.is_empty()),
        spec: None,
        quantity: parse_quantity(&m[1], false),
        unit_price: None,
        confidence: 0.5,
        doubt: Some("lines: the item is a change to an earlier order, read from a sentence".into()),
        discount: None,
    })
}

/// A change of one line's quantity stated in a sentence, applied to `lines` (an earlier order
/// the message orders again): "make it 30 instead of 24 on the pillowcases", "30 rather than
/// 24 of the pillowcases", "20 bags of the wholemeal instead of 10". The line is the one with
/// the old quantity whose name has a word of the item's words (`pillowcases` names
/// `Pillowcase, white percale`). `None` when no change is stated; `Some(false)` when one is
/// but no single line fits it (nothing is changed).
pub fn apply_quantity_change(text: &str, lines: &mut [Line]) -> Option<bool> {
    re!(
        NEW_OLD_ITEM,
        r"(?i)(?:^|\s)([0-9]{1,5})\s+(?:instead\s+of|rather\s+than|not)\s+([0-9]{1,5})\s+(?:on|for|of|with)\s+(?:the\s+)?([^0-9,.;:!?()\-–—]{2,40})"
    );
    let (new, old, item) = match rx(&NEW_OLD_ITEM).and_then(|r| r.captures(text)) {
        Some(m) => (m[1].to_string(), m[2].to_string(), m[3].to_string()),
        None => {
            re!(
                NEW_ITEM_OLD,
                r"(?i)(?:^|\s)([0-9]{1,5})\s+(?:(?:bags|boxes|cases|sacks|packs|bottles|units|cartons|tubs|trays|x)\s+)?(?:of\s+)?(?:the\s+)?([^\s0-9,.;:!?][^0-9,.;:!?]{0,40}?)\s+(?:instead\s+of|rather\s+than)\s+([0-9]{1,5})\b"
            );
            let m = rx(&NEW_ITEM_OLD)?.captures(text)?;
            (m[1].to_string(), m[3].to_string(), m[2].to_string())
        }
    };
    let (new, old) = (parse_quantity(&new, false)?, parse_quantity(&old, false)?);
    // Words compared without a plural's `s` and in lower case; short words say nothing.
    let stem = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
            .trim_end_matches('s')
            .to_string()
    };
    let item: Vec<String> = item
        .split_whitespace()
        .map(stem)
        .filter(|w| w.chars().count() >= 3 && !["the", "and", "our", "your"].contains(&w.as_str()))
        .collect();
    let names = |l: &Line| {
        l.name.as_deref().is_some_and(|n| {
            n.split_whitespace().map(stem).any(|w| {
                w.chars().count() >= 3
                    && item
                        .iter()
                        .any(|i| w.starts_with(i.as_str()) || i.starts_with(w.as_str()))
            })
        })
    };
    let fits: Vec<usize> = (0..lines.len())
        .filter(|&k| lines[k].quantity == Some(old) && names(&lines[k]))
        .collect();
    match fits.as_slice() {
        [one] => {
            lines[*one].quantity = Some(new);
            Some(true)
        }
        _ => Some(false),
    }
}

/// A change to a line of an earlier order, asked in a sentence ("change line 2 on PO 7731
/// (the dome lids) to 15 cases instead of 10", "change the oat milk to 6 cases"): the item
/// by the words it is named by, its new quantity, no price; in doubt, for a person to apply
/// to the earlier order.
pub fn changed_line(text: &str) -> Option<Line> {
    re!(
        CHANGE_TO,
        r"(?i)\b(?:change|amend|update|increase|reduce)\b[^.?!]{0,60}?(?:\(\s*(?:the\s+)?([^()0-9]{2,40}?)\s*\)|\bthe\s+([^()0-9,.;:]{2,40}?))\s+to\s+([0-9]{1,5})\b"
    );
    let m = rx(&CHANGE_TO)?.captures(text)?;
    let name = m.get(1).or(m.get(2))?.as_str();
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    // "change the delivery date to 12 May" changes no item.
    const NOT_ITEMS: &[&str] = &["delivery", "date", "address", "time", "day", "order", "po"];
    if name
        .split_whitespace()
        .any(|w| NOT_ITEMS.contains(&w.to_lowercase().as_str()))
    {
        return None;
    }
    Some(Line {
        sku: None,
        name: Some(name),
        spec: None,
        quantity: parse_quantity(&m[3], false),
        unit_price: None,
        confidence: 0.5,
        doubt: Some(
            "lines: the message changes a line of an earlier order, read from a sentence; a \
             person applies it"
                .into(),
        ),
        discount: None,
    })
}

/// A list item with its code in brackets and its quantity after a dash that ends it, and no
/// price: "Cotton yarn 30s combed (code CY-30C) - 40 bags" (prices "as per the last
/// invoice"). Read without a unit price and in doubt, for a person to price.
fn priceless_item(body: &str, decimal_comma: bool) -> Option<Line> {
    re!(DASH_QTY, r"\s[-–—]\s*([0-9]{1,5})\s*([^\s0-9]{1,10})\s*$");
    re!(
        BRACKET_CODE,
        r"[(（]\s*(?:[^\s()（）:：]{1,12}[\s:：]+){0,2}#?([A-Za-z0-9]+[-_./][A-Za-z0-9._/-]*)\s*[)）]"
    );
    let m = rx(&DASH_QTY)?.captures(body)?;
    let head = &body[..m.get(0)?.start()];
    let code = rx(&BRACKET_CODE)?.captures(head)?;
    let sku = code.get(1)?.as_str();
    if !(sku.chars().any(|c| c.is_ascii_digit()) && sku.chars().any(|c| c.is_ascii_alphabetic())) {
        return None;
    }
    let whole = code.get(0)?.range();
    let mut name = head.to_string();
    name.replace_range(whole, " ");
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = name
        .trim_matches(|c: char| "-–—,;: ".contains(c))
        .to_string();
    if name.is_empty() || leftover_code(&name) {
        return None;
    }
    Some(unpriced_line(
        Some(sku.to_string()),
        name,
        parse_quantity(&m[1], decimal_comma)?,
    ))
}

/// An item whose price is left to the day ("Lampuki, whole, cleaned - 12 kg @ market price
/// (tell me the price on the day)", "… - 3 boxes at price on the day", "… - 2 kg @ MP"): the
/// name before the dash, the count after it (a unit word may follow), no unit price; in
/// doubt, for a person to price.
fn market_priced_item(body: &str, decimal_comma: bool) -> Option<Line> {
    re!(
        MARKET_PRICED,
        r"(?i)^(\S.*?)\s[-–—]\s*([0-9]{1,5})\s*(?:\p{L}{1,8}\.?)?\s*(?:@|at)\s*(?:(?:the\s+)?market\s+price|mp|price\s+on\s+the\s+day|(?:price\s+)?(?:tbc|tba|poa|to\s+be\s+confirmed))\b"
    );
    let m = rx(&MARKET_PRICED)?.captures(body)?;
    let name = m[1]
        .trim()
        .trim_matches(|c: char| "-–—,;: ".contains(c))
        .to_string();
    if name.is_empty() || leftover_code(&name) || !name.chars().any(char::is_alphabetic) {
        return None;
    }
    Some(unpriced_line(
        None,
        name,
        parse_quantity(&m[2], decimal_comma)?,
    ))
}

/// An item read with its count and no unit price (the sender leaves the price open, or writes
/// none): in doubt, for a person to price.
fn unpriced_line(sku: Option<String>, name: String, quantity: Decimal) -> Line {
    Line {
        sku,
        name: Some(name),
        spec: None,
        quantity: Some(quantity),
        unit_price: None,
        confidence: 0.5,
        doubt: Some("lines: an item's unit price is not written".to_string()),
        discount: None,
    }
}

/// Titles of an order form (upper case), which are not the ordering organisation.
const FORM_TITLES: &[&str] = &[
    "PURCHASE ORDER",
    "ORDER FORM",
    "ORDER",
    "FAX",
    "TELEFAX",
    "TÉLÉCOPIE",
    "FAX COVER SHEET",
    "BESTELLUNG",
    "BESTELLSCHEIN",
    "BON DE COMMANDE",
    "COMMANDE",
    "PEDIDO",
    "HOJA DE PEDIDO",
    "BESTELLING",
    "BESTELFORMULIER",
    "ORDINE",
    "MODULO D'ORDINE",
    "ENCOMENDA",
    "NOTA DE ENCOMENDA",
    "注文書",
    "発注書",
    "订购单",
    "訂購單",
    "采购订单",
    "採購訂單",
    "订单",
    "訂單",
];

/// A fax's title joined by a dash to its cover sheet's ("FAX – PAGE DE GARDE", "TELEFAX -
/// DECKBLATT"): every part a form's or a cover sheet's title.
fn cover_title(t: &str) -> bool {
    const COVER_TITLES: &[&str] = &[
        "PAGE DE GARDE",
        "COVER SHEET",
        "COVER PAGE",
        "COVER",
        "DECKBLATT",
        "PORTADA",
        "CARÁTULA",
        "FRONTESPIZIO",
        "VOORBLAD",
    ];
    let compact = |t: &str| -> String {
        t.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase()
    };
    t.contains(['-', '–', '—'])
        && t.split(['-', '–', '—']).all(|part| {
            let part = compact(part);
            FORM_TITLES
                .iter()
                .chain(COVER_TITLES)
                .any(|f| compact(f) == part)
        })
}

/// The ordering organisation on a form: the first cell of the line with the form's title
/// (`Maple Grove Family Dentistry          PURCHASE ORDER`), else the first line of the page
/// that is neither the fax machine's header nor a title nor a `label: value`.
fn letterhead(layout: &Layout, ctx: &Ctx, facts: &mut Facts) {
    // Titles are often letter-spaced ("注 文 書", "P U R C H A S E  O R D E R").
    let compact = |t: &str| -> String {
        t.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase()
    };
    let is_title = |t: &str| {
        let whole = compact(t);
        FORM_TITLES.iter().any(|f| compact(f) == whole) || cover_title(t)
    };
    // A street, a phone or a date is not an organisation (a letterhead that is only a logo
    // leaves the address as the first text).
    // The addressee written at the top ("株式会社サプライ 御中", "山田様") is not the sender.
    let is_name = |t: &str| {
        let t = t.trim();
        !t.contains([':', '：'])
            && !t.starts_with(|c: char| c.is_ascii_digit())
            && digits(t) < 5
            && !["御中", "様", "殿", "先生"].iter().any(|m| t.ends_with(m))
    };
    let header = machine_line;
    // The sender's one-line return address over a window envelope's address ("Klinikum X
    // gGmbH · Mönchebergstraße 41 · 34125 Kassel", DIN 5008): the block under it is the
    // addressee's (the supplier's), even where the form's title stands beside it.
    let return_address = |l: &str| {
        let parts: Vec<&str> = l.trim().split(['·', '•']).map(str::trim).collect();
        parts.len() >= 3
            && is_name(parts[0])
            && !parts[0].is_empty()
            && parts[1..].iter().any(|p| digits(p) > 0)
    };
    for (i, (l, cs)) in layout.lines.iter().zip(&layout.cells).enumerate() {
        if cs.len() >= 2
            && cs.iter().skip(1).any(|c| is_title(&c.text))
            && !header(l)
            && !layout.lines[..i].iter().any(|a| return_address(a))
        {
            let first = &cs[0].text;
            if !is_title(first) && is_name(first) {
                ctx.put(facts, "customer.name", Some(first.clone()), 0.85);
                return;
            }
        }
        // "PURCHASE ORDER            Norwood Physio & Pilates Pty Ltd" (an accounting
        // system's form): the title on the left, the organisation's block on the right,
        // its name first; a name with no digit that heads no address or party.
        if let [title, name] = cs.as_slice() {
            let t = name.text.trim();
            if is_title(&title.text)
                && !header(l)
                && is_name(t)
                && digits(t) == 0
                && t.chars().any(char::is_alphabetic)
                && address_heading(t).is_none()
                && !delivery_word(&t.to_lowercase())
                && !layout.lines[..i].iter().any(|a| return_address(a))
            {
                ctx.put(facts, "customer.name", Some(t.to_string()), 0.8);
                return;
            }
        }
    }
    // A fax's cover sheet comes before the order form: the letterhead is at the top of the
    // page after it.
    let start = cover_end(layout);
    // After the addressee at the top ("株式会社東洋食品容器 御中" / "営業部 ご担当者様", the
    // order's number and date beside them), the sender's block follows below it.
    let mut addressed = false;
    for (l, cs) in layout.lines.iter().zip(&layout.cells).skip(start).take(12) {
        if l.trim().is_empty() || header(l) || is_title(l) {
            continue;
        }
        // A letterhead on one line: "Gasthaus Linde · Hauptstr. 3 · 79098 Freiburg · Tel. …".
        if let Some((first, _)) = l.trim().split_once([' ', '\u{a0}']).and_then(|_| {
            ["·", "•", "|", " – ", " - "]
                .iter()
                .find_map(|sep| l.trim().split_once(sep))
        }) {
            let first = first.trim();
            if !first.is_empty() && is_name(first) && !is_title(first) {
                ctx.put(facts, "customer.name", Some(first.to_string()), 0.8);
                break;
            }
        }
        if let Some(cell) = cs.first() {
            let addressee = ["御中", "様", "殿"]
                .iter()
                .any(|m| cell.text.trim().ends_with(m));
            addressed |= addressee;
            // A letter-spaced title ("発   注   書") reads as one cell per letter.
            if is_title(&cell.text) || is_title(l) || addressee {
                continue;
            }
            if is_name(&cell.text) {
                ctx.put(facts, "customer.name", Some(cell.text.clone()), 0.8);
            } else if addressed {
                continue;
            }
        }
        break;
    }
}

/// The buyer's phone: the sender's own (a labelled phone, a phone after a short mark, the
/// signature's phone line; at the end of a message, at the top of a form's letterhead). A
/// phone inside a delivery block is the delivery place's contact's, taken only when the
/// sender gives none of their own.
fn sender_phone(layout: &Layout, ctx: &Ctx, kind: Kind, facts: &mut Facts) {
    // A phone label without a colon: "Ph (02) 9555 0132", "Tél. 04 91 55 20 14",
    // "T +31 20 555 0142", "o 503-555-0141 | c 503-555-0188" (office, cell); two labels
    // joined by a slash name one number ("Cel./WhatsApp 310 555 0192", "Tel/Fax …").
    re!(
        PHONE_MARKED,
        r"(?i)(?:^|\s)(?:(?:telephone|téléphone|tel|tél|tlf|phone|ph|telefon|telefoon|teléfono|telefono|telefone|fone|fono|t|p|m|o|c|mob|mobile|mobil|handy|mobiel|cellulare|portable|office|direct|work|landline|contact|fixe|büro|festnetz|oficina|kantoor|ufficio|escritório|puh|puhelin|τηλ|τηλέφωνο|тел|моб|tālr|gsm|hp|wa|hp/wa|נייד|טל|جوال|هاتف|sími|s\.|đt|điện thoại|โทรศัพท์|โทร|cel|cell|celular|móvil|movil|simu|मोबाइल|फोन|फ़ोन|تلفن)\.?(?:\s*/\s*(?:whatsapp|wa|fax|mobile|mobil|móvil|movil|cell|cel|celular|handy|tel|tél|telefon|phone|signal|telegram|viber)\.?)?\s*:?\s+|(?:telephone|téléphone|tel|tél|phone|telefon|teléfono|telefono|telefone|mobile|mobil|handy|portable|cell)\.?\s+[^\s0-9:：().+/-]{3,12}\s*:?\s+)(\+?\(?[0-9][0-9 ().-]{5,}[0-9])"
    );
    // A phone named by the place it rings, or by its initial, before a colon ("Kitchen:
    // 01865 555 208", "Shop: …", "o: (775) 555-0134" for the office, "w:" work, "d:" direct).
    re!(
        PHONE_PLACE,
        r"(?i)(?:^|\s|\|)(?:o|w|d|kitchen|shop|store|reception|front\s+desk|desk|warehouse|depot|bar|main|switchboard|studio|clinic|workshop|site)\s*:\s*(\+?\(?[0-9][0-9 ().-]{5,}[0-9])"
    );
    let delivery = delivery_lines(layout, ctx, kind);
    let labelled = find_labelled(layout, ctx, "phone", false);
    let marked = |l: &str| {
        let m = direct_line(l)
            .or_else(|| rx(&PHONE_MARKED).and_then(|r| r.captures(l)))
            .or_else(|| phone_after_label(l))
            .or_else(|| {
                // "d: 12.03.2026" is a date.
                rx(&PHONE_PLACE).and_then(|r| r.captures(l)).filter(|m| {
                    !m[1].split(['.', '/', '-']).all(|p| {
                        (1..=4).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit())
                    })
                })
            })?;
        let n = m.get(1)?;
        let ext = phone_extension(&l[n.end()..]);
        let n = n.as_str();
        (7..=15)
            .contains(&digits(n))
            .then(|| format!("{}{ext}", cut_at_next_label(n).trim()))
    };
    // The signature: a line that is only a phone number, or a part of one
    // ("Lone Pine Veterinary | 541-555-0139"), or a number after a sentence that ends
    // ("Terima kasih. 012-334 5871").
    let alone = |l: &str| {
        let after_sentence = l.rsplit_once(". ").map(|(_, n)| n);
        l.split(['|', '·', '•', ',', ';'])
            .rev()
            .chain(after_sentence)
            .find_map(|part| {
                let t = part.trim();
                // A phone number here has 7 to 15 digits.
                if digits(t) < 7 {
                    return None;
                }
                // "503-555-0184 ext. 2": the extension stays with the number.
                re!(PHONE_EXT, r"(?i)^(.*[0-9])\s+((?:ext\.?|x)\s?[0-9]{1,5})$");
                let (t, ext) = match rx(&PHONE_EXT).and_then(|r| r.captures(t)) {
                    Some(e) => (e.get(1)?.as_str(), Some(e[2].to_string())),
                    None => (t, None),
                };
                let m = rx(&PHONE_LINE).and_then(|r| r.captures(t))?;
                let digits = m[1].chars().filter(char::is_ascii_digit).count();
                (7..=15).contains(&digits).then(|| match ext {
                    Some(e) => format!("{} {e}", &m[1]),
                    None => m[1].to_string(),
                })
            })
    };
    // A fax's cover sheet names the addressee's phone beside the sender's: on a form, the
    // order's own page is read first.
    let cover = if kind == Kind::Form {
        cover_end(layout)
    } else {
        0
    };
    // A tax number written under its label ("GST Number" over "114-555-318"): no phone.
    let taxed = |i: usize| {
        let above = i.checked_sub(1).and_then(|a| layout.cells.get(a));
        layout.cells.get(i).into_iter().flatten().any(|c| {
            digits(&c.text) >= 6
                && above.is_some_and(|cs| {
                    cs.iter().any(|h| {
                        h.start.abs_diff(c.start) <= 2
                            && digits(&h.text) == 0
                            && registration_line(&format!("{} {}", h.text.trim(), c.text.trim()))
                    })
                })
        })
    };
    for own_only in [true, false] {
        let keep = |i: usize| {
            !taxed(i) && (!own_only || (!delivery.get(i).copied().unwrap_or(false) && i >= cover))
        };
        let labelled_phone = |footer: bool| {
            labelled.iter().find_map(|l| {
                if l.value.is_empty() || !keep(l.line) {
                    return None;
                }
                let v = cut_at_next_label(&l.value);
                let phone = rx(&PHONE)
                    .and_then(|r| r.find(v))
                    .map(|m| format!("{}{}", m.as_str().trim(), phone_extension(&v[m.end()..])))?;
                let on_footer = kind == Kind::Email
                    && layout
                        .lines
                        .get(l.line)
                        .is_some_and(|t| organisation_footer(t, &phone));
                (on_footer == footer).then_some(phone)
            })
        };
        if let Some(phone) = labelled_phone(false) {
            ctx.put(facts, "customer.phone", Some(phone), 0.9);
        }
        let lines = layout.lines.iter().enumerate().filter(|(i, _)| keep(*i));
        if !facts.contains_key("customer.phone") {
            // A message's sender signs at the end; a form's letterhead is at the top.
            // A form's letterhead block first: its phone, marked or alone on its line
            // ("(503) 555-0186" under the company's address), before a marked phone
            // further down (a vendor's).
            let phone = match kind {
                // The signature's phones: the last marked one, or the first of the lines
                // of phones it ends ("Tel. …" over "Mobile …": the first).
                Kind::Email => {
                    let all: Vec<(usize, String)> = lines
                        .clone()
                        .filter_map(|(i, l)| marked(l).map(|p| (i, p)))
                        .collect();
                    // The organisation's footer line is not the sender's own phone when the
                    // message gives another.
                    let own: Vec<(usize, String)> = all
                        .iter()
                        .filter(|(i, p)| !organisation_footer(layout.lines[*i], p))
                        .cloned()
                        .collect();
                    // Only when every marked phone is on a footer line: is another phone
                    // alone on its line in the signature?
                    let signed = own.is_empty()
                        && !all.is_empty()
                        && lines.clone().any(|(i, l)| {
                            alone(l).is_some_and(|p| !organisation_footer(layout.lines[i], &p))
                        });
                    let found = if own.is_empty() && !signed { all } else { own };
                    let mut at = found.len().checked_sub(1);
                    while let Some(k) = at.filter(|&k| k > 0) {
                        if found[k - 1].0 + 1 == found[k].0 {
                            at = Some(k - 1);
                        } else {
                            break;
                        }
                    }
                    at.map(|k| found[k].1.clone())
                }
                Kind::Form => letterhead_block(layout)
                    .into_iter()
                    .filter(|i| keep(*i))
                    .find_map(|i| {
                        marked(layout.lines[i])
                            .or_else(|| layout.cells[i].first().and_then(|c| alone(&c.text)))
                    })
                    .or_else(|| lines.clone().find_map(|(_, l)| marked(l))),
            };
            ctx.put(facts, "customer.phone", phone, 0.8);
        }
        if kind == Kind::Email && !facts.contains_key("customer.phone") {
            // The last phone alone on its line that is not on a footer line, else the
            // footer's.
            let mut footer = None;
            let own = lines.rev().find_map(|(_, l)| {
                let p = alone(l)?;
                if organisation_footer(l, &p) {
                    footer.get_or_insert(p);
                    None
                } else {
                    Some(p)
                }
            });
            let phone = own.or(footer);
            ctx.put(facts, "customer.phone", phone, 0.75);
        }
        if !facts.contains_key("customer.phone") {
            ctx.put(facts, "customer.phone", labelled_phone(true), 0.8);
        }
        // A form's field with its value under its label ("Telephone" over "04 555 0183").
        if !facts.contains_key("customer.phone") {
            let below = find_labelled(layout, ctx, "phone", true)
                .iter()
                .filter(|l| l.value.is_empty() && keep(l.line + 1))
                .find_map(|l| {
                    let cell = layout
                        .cells
                        .get(l.line + 1)?
                        .iter()
                        .find(|c| c.start.abs_diff(l.col) <= 2)?;
                    let t = cell.text.trim();
                    let m = rx(&PHONE)?.find(t)?;
                    (m.as_str().trim() == t && (7..=15).contains(&digits(t))).then(|| t.to_string())
                });
            ctx.put(facts, "customer.phone", below, 0.8);
        }
        if facts.contains_key("customer.phone") {
            return;
        }
    }
    // No phone of the sender's own: the one the message asks to call ("call Mike at
    // 937-555-0148 when you're close"), the delivery place's contact.
    if kind == Kind::Email {
        let phone = layout.lines.iter().rev().find_map(|l| call_phone(l));
        ctx.put(facts, "customer.phone", phone, 0.75);
    }
}

/// The extension written right after a phone number ("02-2555-3160 #215", "… ext. 12",
/// "… 分機 215"), as written with the space before it; empty when there is none.
fn phone_extension(after: &str) -> &str {
    re!(
        EXTENSION,
        r"(?i)^\s*(?:#|ext\.?|x|分機|分机|內線|内线|轉|转)\s?[0-9]{1,5}\b"
    );
    rx(&EXTENSION)
        .and_then(|r| r.find(after))
        .map_or("", |m| m.as_str())
}

/// Whether the line holding `phone` is an organisation's footer rather than a person's
/// signature line: fields set side by side ("·", "|", "–") of which one besides the phone
/// carries digits or a web address, the company's street or postcode, its VAT number
/// ("Bakkerij X bv · Korenmarkt 14 · 9000 Gent · T 09 … · BTW …", "Head office: 12 High St |
/// Tel: …"). A line naming a person, their role and their phone has no such field.
fn organisation_footer(line: &str, phone: &str) -> bool {
    let fields: Vec<&str> = line
        .split(['·', '|', '•', '–', '—'])
        .flat_map(|f| f.split(" - "))
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    let phone_digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let other = fields.iter().filter(|f| {
        let d: String = f.chars().filter(char::is_ascii_digit).collect();
        !(phone_digits.len() >= 7 && d.contains(&phone_digits))
    });
    let carries_place = other.clone().any(|f| {
        let l = f.to_lowercase();
        f.chars().any(|c| c.is_ascii_digit()) || l.contains("www.") || l.contains("http")
    });
    fields.len() >= 3 && carries_place
}

/// A name whose characters a letterhead spaced out ("海 悅 酒 家 有 限 公 司"), written
/// together; `None` unless every piece is one CJK character.
fn unspaced_cjk(v: &str) -> Option<String> {
    let pieces: Vec<&str> = v.split_whitespace().collect();
    (pieces.len() >= 3 && pieces.iter().all(|p| p.chars().count() == 1 && has_cjk(p)))
        .then(|| pieces.concat())
}

/// The last sentence of a line: what follows the last ". " that ends one. The dot after a
/// number is an ordinal's ("Freitag, 10. Juli, an:", "am 3. August"), which ends no sentence.
fn last_sentence(t: &str) -> &str {
    let mut end = t.len();
    while let Some(at) = t[..end].rfind(". ") {
        if !t[..at].ends_with(|c: char| c.is_ascii_digit()) {
            return &t[at + 2..];
        }
        end = at;
    }
    t
}

/// A phone number the sender asks to call, in a sentence: "call Mike at 937-555-0148",
/// "ring the shop on 01422 555 731", "text me at …", or names as their own ("My mobile, 087
/// 555 0164"). The number has 7 to 15 digits.
fn call_phone(line: &str) -> Option<String> {
    // "Any prob call me 012-555 8817": the sender's own number ("me") without "at".
    re!(
        CALL_AT,
        r"(?i)\b(?:call|ring|phone|text)\b(?:(?:\s+[^\s0-9]+){0,3}?\s+(?:at|on)|\s+(?:me|us))\s+(\+?\(?[0-9][0-9 ().-]{5,}[0-9])"
    );
    // "My mobile, 087 555 0164 - …", "my cell is 0412 …": the sender's own number named so.
    re!(
        MY_PHONE,
        r"(?i)\bmy\s+(?:mobile|cell|mob|phone|number)(?:\s+(?:number|no\.?|phone))?(?:\s+is)?\s*[,:]?\s+(\+?\(?[0-9][0-9 ().-]{5,}[0-9])"
    );
    // "call in on 12.03.2026" names a day, not a number.
    re!(DATE_LIKE, r"^[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}$");
    let m = rx(&CALL_AT)?
        .captures(line)
        .or_else(|| rx(&MY_PHONE)?.captures(line))?;
    let n = m.get(1)?.as_str().trim();
    let date = rx(&DATE_LIKE).is_some_and(|r| r.is_match(n));
    ((7..=15).contains(&digits(n)) && !date).then(|| n.to_string())
}

/// Whether a line is the fax machine's: its header (`From: … To: … P. 1/2`), or a line that
/// starts with a date and time or ends with the page count (`29.04.2026 09:14  Elektro Brandl
/// +49 851 5554419  S. 1/2`, `PAGE 01/01`; the month in letters: `16-SEP-2026 10:17  FROM
/// +254 …  P.01`).
fn machine_line(l: &str) -> bool {
    re!(
        MACHINE_LINE,
        r"(?i)^[0-9]{1,4}[/.-][0-9]{1,2}[/.-][0-9]{1,4}\s+[0-9]{1,2}:[0-9]{2}\b|^[0-9]{1,2}[-/. ](?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}[-/. ][0-9]{2,4}\s+[0-9]{1,2}:[0-9]{2}\b|^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+[0-9]{1,2},?\s+[0-9]{4}\s+[0-9]{1,2}:[0-9]{2}\s*(?:am|pm)?\b|\b(?:page|p\.)\s*[0-9]{1,3}\s*/\s*[0-9]{1,3}\s*$"
    );
    let l = l.trim();
    rx(&FAX_HEADER).is_some_and(|r| r.is_match(l))
        || rx(&MACHINE_LINE).is_some_and(|r| r.is_match(l))
}

/// Labels of a form that name its purchasing agent, a person, not the ordering organisation.
const AGENT_LABELS: &[&str] = &["buyer", "acheteur", "comprador"];

/// A person's name written as an initial and a surname ("L. Nguyen", "M. Sandhu").
fn person_initial_name(v: &str) -> bool {
    re!(
        PERSON_INITIAL,
        r"^\p{Lu}\.\s?(?:\p{Lu}\.\s?)?\p{Lu}\p{Ll}+(?:[- ]\p{Lu}\p{Ll}+)?$"
    );
    rx(&PERSON_INITIAL).is_some_and(|r| r.is_match(v.trim()))
}

/// Where the page after a fax's cover sheet starts (0 when the text starts with no cover
/// sheet): the cover's fields (`To:` / `From:` / `Pages:`, `À :` / `De :` / `Objet :`, after
/// a `Date :` perhaps) under a FAX title come first, and the fax machine's next header line
/// starts the order form's page.
fn cover_end(layout: &Layout) -> usize {
    let is_title = |t: &str| {
        let t: String = t
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        FORM_TITLES.iter().any(|f| f.replace(' ', "") == t)
    };
    let head = |l: &str| {
        l.contains([':', '：']).then(|| {
            l.trim()
                .split([':', '：'])
                .next()
                .unwrap_or("")
                .trim()
                .to_lowercase()
        })
    };
    let cover_field = |l: &str| {
        head(l).is_some_and(|h| {
            [
                "to",
                "from",
                "attn",
                "fax",
                "re",
                "pages",
                "subject",
                "de",
                "à",
                "a",
                "an",
                "von",
                "para",
                "van",
                "aan",
                "da",
                "objet",
                "betreff",
                "asunto",
                "oggetto",
                "seiten",
                "páginas",
                "pagine",
                "destinataire",
                "expéditeur",
                "émetteur",
                "empfänger",
                "absender",
                "destinatario",
                "remitente",
                "mittente",
                "afzender",
                "ontvanger",
            ]
            .contains(&h.as_str())
        })
    };
    // "Date :", "Datum:" above the fields.
    let date_field = |l: &str| {
        head(l).is_some_and(|h| ["date", "datum", "fecha", "data", "dato"].contains(&h.as_str()))
    };
    for (i, l) in layout.lines.iter().enumerate().take(12) {
        if l.trim().is_empty() || machine_line(l) || is_title(l) || cover_title(l) || date_field(l)
        {
            continue;
        }
        if cover_field(l) {
            if let Some(next) =
                (i + 1..layout.lines.len().min(200)).find(|&k| machine_line(layout.lines[k]))
            {
                return next;
            }
        }
        break;
    }
    0
}

/// The lines of a form's letterhead: the first block of text at the top (after a fax
/// machine's header line, and after a fax's cover sheet), up to a blank line; at most eight
/// lines.
fn letterhead_block(layout: &Layout) -> Vec<usize> {
    let cover = cover_end(layout);
    let start = layout
        .lines
        .iter()
        .enumerate()
        .skip(cover)
        .position(|(_, l)| !l.trim().is_empty() && !machine_line(l))
        .map(|at| at + cover);
    let Some(start) = start else {
        return Vec::new();
    };
    (start..layout.lines.len())
        .take_while(|&i| !layout.lines[i].trim().is_empty())
        .take(8)
        .collect()
}

/// The amount a sentence ends with the word total after it ("That's $672.95 in product plus
/// the $35.00 delivery fee, so $707.95 total.", "$714.50 total with delivery.", or "all in" /
/// "all up": "…, so €266.79 all in."): the order's total, as the sender sums it. Only a sentence's end (not "$50.00 total credit").
fn amount_then_total(line: &str) -> Option<&str> {
    re!(
        AMOUNT_THEN_TOTAL,
        r"(?i)(?:^|[\s,;:(])(?:US\$|\$|£|€)\s?([0-9][0-9,]*\.[0-9]{2})\s+(?:(?:in\s+)?total|all\s+(?:in|up))(?:\s+(?:with|incl(?:uding|\.)?|inc\.?)\s+[^.!?$£€0-9]{1,40})?\s*[.!)]*\s*$"
    );
    rx(&AMOUNT_THEN_TOTAL)?
        .captures(line)
        .and_then(|m| m.get(1))
        .map(|m| m.as_str())
}

/// A phone number labelled as the writer's direct line ("direct dial 0161 555 0123",
/// "Durchwahl: …", "直通：03-5555-0123"; the short "DD: …" and "DID: …" (direct inward
/// dialling, as Singapore's and Hong Kong's signatures write it) with their colon, beside a
/// "Switchboard:" or a mobile "HP:"), which is theirs rather than the switchboard's a line
/// may give first ("代表：03-5555-0100　直通：…", "Tel … · direct line …"). Group 1 is the
/// number.
fn direct_line(line: &str) -> Option<regex::Captures<'_>> {
    re!(
        DIRECT_LINE,
        r"(?i)(?:^|\s|[|·,(（])(?:(?:direct\s+(?:dial|line)|ddi|durchwahl|ligne\s+directe|linea\s+diretta|línea\s+directa|doorkiesnummer|直通(?:電話)?|直线|直綫)\s*[:：]?|(?:dd|did)\s*[:：])\s*(\+?\(?[0-9][0-9 ().-]{5,}[0-9])"
    );
    phone_number(rx(&DIRECT_LINE)?, line)
}

/// A phone number after a label the short list in [`sender_phone`] does not read: Korean
/// `전화`/`휴대폰`/`연락처` without a colon, Hebrew `טל'` (the geresh closing the
/// abbreviation), and a Vietnamese label that says whose phone it is ("Điện thoại nhận hàng:
/// 0912 345 678", the phone at the delivery place). Group 1 is the number.
fn phone_after_label(line: &str) -> Option<regex::Captures<'_>> {
    re!(
        PHONE_LABEL_MORE,
        r"(?i)(?:^|\s)(?:전화|휴대폰|핸드폰|연락처|טל['׳]|điện thoại(?:\s+[^\s:：0-9]+){0,3}|sđt)\s*[:：]?\s*(\+?\(?[0-9][0-9 ().-]{5,}[0-9])"
    );
    phone_number(rx(&PHONE_LABEL_MORE)?, line)
}

/// The first match of a phone label's pattern `re` in `line` whose number (group 1) has a
/// phone's 7 to 15 digits.
fn phone_number<'a>(re: &regex::Regex, line: &'a str) -> Option<regex::Captures<'a>> {
    let m = re.captures(line)?;
    (7..=15).contains(&digits(m.get(1)?.as_str())).then_some(m)
}

/// What [`extract_text`] is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A message written by a person.
    Email,
    /// A printed order form (fax).
    Form,
}

/// Extracts facts and lines from text.
pub fn extract_text(text: &str, ctx: &Ctx, kind: Kind) -> (Facts, Vec<Line>, Vec<String>) {
    let ascii = ascii_digits(text);
    if ascii == text {
        return read_text(text, ctx, kind);
    }
    // Numbers are read in ASCII digits; what the sender wrote as text (a name, a street)
    // keeps the digits as written.
    let (mut facts, mut lines, doubts) = read_text(&ascii, ctx, kind);
    for (key, fact) in facts.iter_mut() {
        if WRITTEN_FACTS.contains(&key.as_str()) {
            fact.value = as_written(text, &ascii, &fact.value);
        }
    }
    for line in &mut lines {
        for part in [&mut line.name, &mut line.spec].into_iter().flatten() {
            *part = as_written(text, &ascii, part);
        }
    }
    (facts, lines, doubts)
}

/// Facts that are text as the sender wrote it (not numbers, codes or contacts).
const WRITTEN_FACTS: &[&str] = &[
    "customer.name",
    "customer.phone",
    "customer.company",
    "ship_to.name",
    "ship_to.company",
    "ship_to.line1",
    "ship_to.line2",
    "ship_to.city",
    "ship_to.region",
];

/// `text` with Arabic-Indic (`٠`–`٩`), Eastern Arabic-Indic (`۰`–`۹`), Devanagari (`०`–`९`),
/// Bengali (`০`–`৯`) and Thai (`๐`–`๙`) digits, and the
/// Arabic decimal separator, thousands separator and percent sign (`٫`, `٬`, `٪`), as ASCII:
/// one character for one, so that a place in one is the same place in the other.
pub fn ascii_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            // Devanagari, Bengali and Thai digits.
            '\u{0966}'..='\u{096F}' => char::from(b'0' + (c as u32 - 0x0966) as u8),
            '\u{09E6}'..='\u{09EF}' => char::from(b'0' + (c as u32 - 0x09E6) as u8),
            '\u{0E50}'..='\u{0E59}' => char::from(b'0' + (c as u32 - 0x0E50) as u8),
            '\u{066B}' => '.',
            '\u{066C}' => ',',
            '\u{066A}' => '%',
            _ => c,
        })
        .collect()
}

/// `value`, read from `ascii` (`text` through [`ascii_digits`]), as `text` writes it: the same
/// characters at the same place. Unchanged when `value` is not a piece of `ascii`.
fn as_written(text: &str, ascii: &str, value: &str) -> String {
    match ascii.find(value) {
        Some(at) => text
            .chars()
            .skip(ascii[..at].chars().count())
            .take(value.chars().count())
            .collect(),
        None => value.to_string(),
    }
}

/// [`extract_text`] on a text whose digits are ASCII.
fn read_text(text: &str, ctx: &Ctx, kind: Kind) -> (Facts, Vec<Line>, Vec<String>) {
    let mut facts = Facts::new();
    let mut doubts = Vec::new();
    let layout = Layout::new(text);
    let lines = &layout.lines;
    let first_value = |field: &str, bare: bool| -> Option<Labelled> {
        find_labelled(&layout, ctx, field, bare)
            .into_iter()
            .find(|l| !l.value.is_empty())
    };

    // Order number: every labelled reference; two different ones are a doubt.
    let mut refs = reference_candidates(text, ctx);
    if let Some(m) = text
        .contains("PO-")
        .then(|| rx(&PO_DASHED)?.captures(text))
        .flatten()
    {
        refs.push((m[1].to_string(), 0.85));
    }
    if let Some((po, _)) = po_labelled(text) {
        refs.push((po, 0.85));
    }
    // "New PO for this one is GH-7790", "our PO for the June delivery will be 4471", "Our PO #
    // for it is HK-5512": the PO a sentence names for this order.
    re!(
        PO_IS,
        r"(?i)\b(?:p\.?o\.?|purchase\s+order)(?:\s+(?:number|no\.?|#|ref(?:erence)?))?\s+(?:for\s+(?:it|(?:this|the|that)(?:\s+[a-z]+){1,2})\s+)?(?:is|will\s+be)\s+([A-Za-z0-9][A-Za-z0-9/-]*[0-9][A-Za-z0-9/-]*)"
    );
    if contains_ci(text, "po") || contains_ci(text, "purchase") {
        for m in lines.iter().filter_map(|l| rx(&PO_IS)?.captures(l)) {
            let v = m[1].trim_end_matches(['.', '-', '/']).to_string();
            if v.len() >= 3 && !refs.iter().any(|(r, _)| *r == v) {
                refs.push((v, 0.85));
            }
        }
    }
    if let Some((best, c)) = refs.iter().max_by(|a, b| a.1.total_cmp(&b.1)).cloned() {
        let key = |v: &str| -> String {
            v.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_uppercase()
        };
        let k = key(&best);
        let rival = refs.iter().any(|(v, c2)| {
            let k2 = key(v);
            *c2 >= 0.8 && !(k.ends_with(&k2) || k2.ends_with(&k))
        });
        if rival {
            doubts.push("source.external_id: the message names different order references".into());
        }
        ctx.put(
            &mut facts,
            "source.external_id",
            Some(best),
            if rival { 0.5 } else { c },
        );
    }

    // Contact facts (on a form the customer is the organisation, not the person who signed).
    // "Contact: 01904 555 018" names a way to reach them, not a person.
    if let Some(l) = first_value("contact", false)
        .filter(|_| kind == Kind::Email)
        .filter(|l| !is_contact_line(&l.value))
    {
        ctx.put(&mut facts, "customer.name", Some(l.value), 0.9);
    }
    // On a form, "Buyer:" names the purchasing agent who typed it (a person); the customer
    // is the ordering organisation on the letterhead.
    let agent = |l: &Labelled| {
        kind == Kind::Form
            && layout.labels.iter().any(|c| {
                c.line == l.line
                    && c.col == l.col
                    && AGENT_LABELS.contains(&c.head.trim().to_lowercase().as_str())
            })
    };
    if let Some(l) = find_labelled(&layout, ctx, "customer", false)
        .into_iter()
        .find(|l| !l.value.is_empty() && !agent(l))
    {
        if facts.contains_key("customer.name") {
            ctx.put(&mut facts, "customer.company", Some(l.value), 0.9);
        } else {
            ctx.put(&mut facts, "customer.name", Some(l.value), 0.9);
        }
    }
    if let Some(l) = first_value("company", false) {
        ctx.put(&mut facts, "customer.company", Some(l.value), 0.9);
    }
    sender_phone(&layout, ctx, kind, &mut facts);
    if let Some(l) = first_value("email", false) {
        let email = rx(&EMAIL)
            .and_then(|r| r.find(&l.value))
            .map(|m| m.as_str().to_string());
        ctx.put(&mut facts, "customer.email", email, 0.9);
    }
    if kind == Kind::Form {
        letterhead(&layout, ctx, &mut facts);
        // The form's own e-mail address in its letterhead, unlabelled under the address.
        if !facts.contains_key("customer.email") {
            // Also beside the letterhead's phone and fax ("Tel … Fax … purchasing@…"), but
            // not on a line that names the vendor.
            let email = letterhead_block(&layout).into_iter().find_map(|i| {
                let low = layout.lines[i].to_lowercase();
                if ["vendor", "supplier", "to:"]
                    .iter()
                    .any(|w| low.contains(w))
                {
                    let cell = layout.cells[i].first()?;
                    return rx(&EMAIL)?.find(&cell.text).map(|m| m.as_str().to_string());
                }
                rx(&EMAIL)?
                    .find(layout.lines[i])
                    .map(|m| m.as_str().to_string())
            });
            ctx.put(&mut facts, "customer.email", email, 0.85);
        }
        // A form's customer is an organisation: a person's name ("L. Nguyen") read as it is a
        // doubt, not a customer to release.
        if facts
            .get("customer.name")
            .is_some_and(|f| person_initial_name(&f.value))
        {
            doubts.push(
                "customer.name: on a form the customer is the organisation on the letterhead; \
                 the name read is a person's"
                    .into(),
            );
        }
    }

    // Delivery address: a labelled block or value, else the block after "deliver to …:".
    let labelled = find_labelled(&layout, ctx, "ship_to", kind == Kind::Form);
    // A value on the label's line is an address when it has a number, is written in CJK, or
    // lines follow it ("Lieferung: nächste Woche" is not one).
    // A value whose only numbers are dates and times says when ("Consegna: entro il
    // 30/04/2026, 8:30-12:30"), not where.
    let addressy = |l: &&Labelled| {
        let when = digits(&l.value) > 0 && digits(&undated(&l.value)) == 0;
        !l.value.is_empty()
            && !when
            && (digits(&l.value) > 0
                || has_cjk(&l.value)
                || !block_below(&layout, l.line, l.col, 1).is_empty())
    };
    // A label alone on its line above an address block (its city line read) before a later
    // label whose value is on its line ("Entregar en:" with the block, then "Entrega:
    // viernes por la mañana, antes de las 11 h."): the block is where the goods go.
    let blocked = labelled
        .iter()
        .filter(|l| l.value.is_empty())
        .find(|l| {
            block_below(&layout, l.line, l.col, 7).iter().any(|b| {
                city_line(b.trim()).is_some()
                    // "收货信息：" over "四川省成都市武侯区科华北路65号附1号": an East Asian
                    // address line with its house number, unlabelled (a block of labelled
                    // fields, "地址：…", is read field by field).
                    || (has_cjk(b)
                        && digits(b) > 0
                        && !b.contains([':', '：'])
                        && is_east_asian_address(b))
            })
        })
        .map(|l| l.line);
    let addressy = |l: &&Labelled| addressy(l) && blocked.is_none_or(|at| l.line < at);
    // A web form's address: each part labelled on its own line.
    let fielded = kind == Kind::Email && fielded_address(&layout, ctx, &mut facts);
    if fielded {
    } else if let Some(l) = labelled
        .iter()
        .filter(addressy)
        .find(|l| names_delivery(&layout, l))
        .or_else(|| labelled.iter().find(addressy))
    {
        let block = block_below(&layout, l.line, l.col, 6);
        // "Ship to: Name" followed by more lines is a block; a long value is one line.
        if !block.is_empty() && !l.value.contains(',') && !has_cjk(&l.value) {
            let mut all = vec![l.value.clone()];
            all.extend(block);
            address_block(&mut facts, ctx, all, 0.9);
        } else {
            address_line(&mut facts, ctx, &l.value, 0.85);
            // "納品先：〒530-0001 大阪府…" / "うめだ商店 仕入部": the recipient on the next line.
            if has_cjk(&l.value) && !facts.contains_key("ship_to.name") {
                let name = block.iter().find(|b| !is_contact_line(b)).filter(|b| {
                    has_cjk(b)
                        && b.chars().count() <= 24
                        && digits(b) == 0
                        && !b.contains([':', '：'])
                        && !b.trim_end().ends_with(['。', '！', '!'])
                        && !is_east_asian_address(b)
                        && !is_closing(b)
                });
                ctx.put(&mut facts, "ship_to.name", name.cloned(), 0.8);
            }
        }
    } else if let Some(block) = labelled.iter().find_map(|l| side_block(&layout, l)) {
        address_block(&mut facts, ctx, block, 0.9);
    } else if let Some(l) = labelled.iter().find(|l| l.value.is_empty()) {
        // Up to seven lines: a name, two street lines, the city, the postcode, the province
        // and the country each on its own line (South Africa's way).
        let block = block_below(&layout, l.line, l.col, 7);
        address_block(&mut facts, ctx, block, 0.9);
    } else {
        // The words may start on the line before the colon ("Delivery to the Kings\nHeath
        // shop as usual please:").
        let triggers = (0..lines.len()).filter(|&i| {
            let t = lines[i].trim().to_lowercase();
            let before = if i > 0 {
                lines[i - 1].trim().to_lowercase()
            } else {
                String::new()
            };
            // The words are in the sentence the colon ends ("Thanks for the quick delivery
            // last week. Here is our next order:" announces no address).
            let t = last_sentence(&t).to_string();
            (t.ends_with(':') || t.ends_with('：'))
                && (delivery_word(&t) || delivery_word(&before) || send_to(&t))
                // The address the invoice goes to is not where the goods go.
                && !INVOICE_WORDS.iter().any(|w| t.contains(w))
        });
        // A heading ("Leveringsadresse:") before a sentence that happens to end in a colon
        // ("… send this order on to the supplier:").
        let mut triggers: Vec<usize> = triggers.collect();
        triggers.sort_by_key(|&i| lines[i].split_whitespace().count() > 4);
        for i in triggers {
            let mut block = block_below(&layout, i, 0, 6);
            // A phone under the address ("Ph 09 555 0143") is no part of it.
            re!(
                PHONE_UNDER,
                r"(?i)^(?:ph|phone|tel|telephone|t|m|mob|mobile|cell)\.?\s*:?\s*\+?\(?[0-9][0-9 ().-]{5,}[0-9]$"
            );
            while block.len() > 2
                && block
                    .last()
                    .is_some_and(|l| rx(&PHONE_UNDER).is_some_and(|r| r.is_match(l.trim())))
            {
                block.pop();
            }
            // A list of items is not an address.
            let listy = block.iter().any(|l| list_item(l));
            // "Send it to our warehouse at:" says where only above an address (a city line).
            let placed = !send_to(&lines[i].trim().to_lowercase())
                || block.iter().any(|b| city_line(b.trim()).is_some());
            if !block.is_empty() && !listy && placed {
                address_block(&mut facts, ctx, block, 0.8);
                break;
            }
        }
    }

    // "The address is in my signature below": the signature's city line, with the street
    // and the organisation's name on the two lines above it.
    re!(
        IN_SIGNATURE,
        r"(?i)\baddress\s+(?:is\s+)?(?:in|at\s+the\s+foot\s+of)\s+(?:my|our|the)\s+(?:e-?mail\s+)?signature"
    );
    if kind == Kind::Email
        && !facts.contains_key("ship_to.line1")
        && contains_ci(text, "signature")
        && rx(&IN_SIGNATURE).is_some_and(|r| r.is_match(text))
    {
        let said = lines
            .iter()
            .position(|l| rx(&IN_SIGNATURE).is_some_and(|r| r.is_match(l)))
            .unwrap_or(0);
        let city = (said + 1..lines.len())
            .rev()
            .find(|&i| !lines[i].trim().starts_with('>') && city_line(lines[i].trim()).is_some());
        if let Some(c) = city.filter(|&c| c >= said + 3) {
            let block: Vec<String> = (c - 2..=c).map(|i| lines[i].trim().to_string()).collect();
            if block.iter().all(|l| !l.is_empty()) {
                address_block(&mut facts, ctx, block, 0.8);
            }
        }
    }

    // No labelled or announced address: a block of lines whose last line has the form of
    // a city line of a country that implies it ("Gunnison, CO 81230") is read as the
    // address, but only as a guess a person confirms.
    if kind == Kind::Email && !facts.contains_key("ship_to.line1") {
        if let Some(block) = unlabelled_address(&layout) {
            address_block(&mut facts, ctx, block, 0.6);
            doubts.push(
                "ship_to: the address has no label; it was read by its form as the delivery \
                 address"
                    .into(),
            );
        }
    }

    // Delivery date.
    if let Some(l) = first_value("delivery_date", false) {
        let v = match rx(&CN_DATE).and_then(|r| r.captures(&l.value)) {
            Some(m) if m[1].len() == 4 => {
                let (mo, d) = (
                    m[2].parse::<u32>().unwrap_or(0),
                    m[3].parse::<u32>().unwrap_or(0),
                );
                format!("{}-{mo:02}-{d:02}", &m[1])
            }
            _ => l.value.clone(),
        };
        ctx.put(&mut facts, "requested_delivery", Some(v), 0.9);
    }

    // The recipient and postcode written as their own labelled fields (East Asian mail).
    // "收货单位：兰亭小馆（徐家汇店）": the organisation the goods go to is the delivery
    // name; a person labelled beside it (收货人, 联系人) is who takes them.
    let consignee = first_value("consignee", false).map(|l| split_trailing_phone(&l.value).0);
    if let Some(name) = &consignee {
        ctx.put(&mut facts, "ship_to.name", Some(name.clone()), 0.95);
    }
    // The name the delivery block itself gives (an organisation's line under the address,
    // "茶苑 逢甲店") is the delivery name; the person labelled as recipient ("收貨人：張店長")
    // takes the goods there.
    let block_named = consignee.is_some() || facts.contains_key("ship_to.name");
    if let Some(l) = first_value("recipient", false) {
        // "收货人：张三 13800138000": the name, and the delivery place's phone.
        let (name, phone) = split_trailing_phone(&l.value);
        if !block_named {
            ctx.put(&mut facts, "ship_to.name", Some(name), 0.9);
        }
        if !facts.contains_key("customer.phone") {
            ctx.put(&mut facts, "customer.phone", phone, 0.75);
        }
    }
    // A postcode labelled in the delivery block ("收货地址：…", then "邮政编码：…") over one
    // labelled before it (the letterhead's "地址：… 邮编：…").
    let delivery_at = labelled
        .iter()
        .find(|l| names_delivery(&layout, l))
        .map(|l| l.line);
    let postal = delivery_at
        .and_then(|at| {
            find_labelled(&layout, ctx, "postal_code", false)
                .into_iter()
                .find(|l| !l.value.is_empty() && l.line >= at)
        })
        .or_else(|| first_value("postal_code", false));
    if let Some(l) = postal {
        let code = l.value.split_whitespace().next().map(String::from);
        ctx.put(&mut facts, "ship_to.postal_code", code, 0.9);
    }

    // Total: summary rows, else a sentence that states it ("the order total is $229.50").
    let dc = ctx.decimal_comma();
    let stated = super::checks::stated_amounts(text, dc);
    let mut total = stated.total.first().map(|d| (*d, None));
    if total.is_none() {
        for l in lines {
            if let Some(m) = stated_total(l) {
                let at = m.get(1).map_or(0, |g| g.start());
                // Lower-cased after cutting: lower case may be longer in bytes ("Ⱥ" → "ⱥ").
                let before = l[..at].trim_end().to_lowercase();
                if before.ends_with("sub") || before.ends_with("sub-") {
                    continue;
                }
                let cur = m.get(2).or(m.get(3)).and_then(|c| currency_of(c.as_str()));
                if let Some(d) = parse_decimal(&m[4], dc) {
                    total = Some((d, cur));
                }
            }
        }
    }
    // "… so $543.00 is the total we have approved": the amount the sentence names as the total.
    if total.is_none() {
        re!(
            IS_THE_TOTAL,
            r"(?i)(?:US\$|\$|£|€)\s?([0-9][0-9,]*\.[0-9]{2})\s+is\s+(?:the|our)\s+(?:order\s+)?total\b"
        );
        if let Some(m) = lines.iter().find_map(|l| rx(&IS_THE_TOTAL)?.captures(l)) {
            total = parse_decimal(&m[1], dc).map(|d| (d, None));
        }
    }
    // "…, so $707.95 total.", "$714.50 total with delivery": an amount with the word total
    // after it ending the sentence.
    if total.is_none() {
        total = lines
            .iter()
            .find_map(|l| amount_then_total(l))
            .and_then(|a| parse_decimal(a, false))
            .map(|d| (d, None));
    }
    // "Comes to $1,223.60 by my count.", "That all comes to £412.50", "The order adds up to
    // $96.00", "By my maths that comes to $881.90 all up.": a sentence of its own that sums
    // the order (not "about" a sum).
    if total.is_none() {
        re!(
            COMES_TO,
            r"(?i)^\s*(?:(?:so|and)\s+)?(?:(?:by\s+my|on\s+my|according\s+to\s+my)\s+(?:maths?|count|calculations?|reckoning|sums),?\s+)?(?:(?:that|it|this|which|everything|the\s+(?:order|lot|total)|total)\s+)?(?:all\s+)?(?:comes?|works?\s+out|adds?\s+up)\s+(?:to|at)\s+(?:US\$|\$|£|€)\s?([0-9][0-9,]*\.[0-9]{2})\b"
        );
        if let Some(m) = lines.iter().find_map(|l| rx(&COMES_TO)?.captures(l)) {
            total = parse_decimal(&m[1], false).map(|d| (d, None));
        }
    }
    // "Please find attached Purchase Order PO-00412 for AUD 1,875.30", "Here's purchase
    // order PO-0087 for NZD 1,104.00": the amount an order software's message gives the order.
    if total.is_none() {
        re!(
            ORDER_FOR,
            r"(?i)\border\s+(?:(?:no\.?|number|#)\s*)?[A-Z0-9][A-Z0-9/-]*[0-9][A-Z0-9/-]*\s+for\s+(?:(USD|AUD|NZD|CAD|GBP|EUR|SGD|HKD|INR|ZAR)\s?|US\$|A\$|AU\$|NZ\$|C\$|CA\$|\$|£|€)\s?([0-9][0-9,]*\.[0-9]{2})\b"
        );
        if let Some(m) = lines.iter().find_map(|l| rx(&ORDER_FOR)?.captures(l)) {
            let cur = m.get(1).and_then(|c| currency_of(c.as_str()));
            total = parse_decimal(&m[2], false).map(|d| (d, cur));
        }
    }
    if total.is_none()
        && stated.tax.is_empty()
        && stated.shipping.is_empty()
        && stated.fees.is_empty()
    {
        // The only total a sender states may be before tax ("Total HT : 71,70 €",
        // "Összesen (nettó): 141 420 Ft"): it is still the order total they state.
        if let Some(first) = stated.subtotal.first() {
            if stated.subtotal.iter().all(|s| s == first) {
                total = Some((*first, None));
            }
        }
    }
    if total.is_none()
        && stated.tax.is_empty()
        && stated.shipping.is_empty()
        && stated.fees.is_empty()
    {
        for l in lines {
            let t = l.trim().to_lowercase();
            let net_total = [
                "total ht",
                "total h.t.",
                "total net",
                "total excl",
                "totaal excl",
                "gesamtbetrag netto",
                "summe netto",
                "totale imponibile",
                "total sin iva",
                "total sem iva",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if net_total {
                let at = super::checks::numbers(l).first().map(|(n, _)| n.clone());
                if let Some(d) = at.and_then(|n| parse_decimal(&n, dc)) {
                    total = Some((d, None));
                }
            }
        }
    }
    if total.is_none() {
        total = super::checks::net_total_after_charges(&stated).map(|t| (t, None));
    }
    if total.is_none() {
        doubts.extend(unread_total(&layout, dc));
    }
    // Two orders in one message: total rows that each name an order reference of their own
    // ("Total pedido 2611: 228,30 €" and "Total pedido 2612: 335,50 €") close two orders;
    // neither reference nor either total is the message's.
    if two_orders_totalled(lines, &refs) {
        facts.remove("source.external_id");
        total = None;
        doubts.push(
            "source.external_id, total: the message holds more than one order, each total \
             naming its own order reference"
                .into(),
        );
    }
    if let Some((amount, cur)) = total {
        ctx.put(
            &mut facts,
            "total",
            Some(amount.normalize().to_string()),
            0.85,
        );
        if let Some(cur) = cur {
            ctx.put(&mut facts, "currency", Some(cur.into()), 0.9);
        }
    }

    // Lines: a table, else bullets, else list items of other shapes.
    let mut out = table_lines(&layout, ctx, &mut facts, &mut doubts);
    if out.is_empty() {
        // Bullets, and list items of other shapes among them, in the order written.
        let mut items = bullet_lines(lines, ctx, &mut facts);
        items.extend(column_items(lines, ctx));
        let priced: Vec<(usize, Line)> = labelled_price_items(lines, ctx)
            .into_iter()
            .filter(|(i, _)| !items.iter().any(|(j, _)| j == i))
            .collect();
        items.extend(priced);
        let fielded: Vec<(usize, Line)> = labelled_field_items(lines, dc)
            .into_iter()
            .filter(|(i, _)| !items.iter().any(|(j, _)| j == i))
            .collect();
        items.extend(fielded);
        let read: Vec<usize> = items.iter().map(|(i, _)| *i).collect();
        items.extend(list_lines(lines, ctx, &read, &mut doubts));
        if items.is_empty() {
            items = field_blocks(lines, dc);
        }
        if items.is_empty() {
            items = segment_items(lines, dc);
        }
        if items.is_empty() {
            items = sentence_items(lines, dc);
        }
        if items.is_empty() {
            items = form_items(lines, dc)
                .into_iter()
                .map(|(i, mut l)| {
                    l.confidence = (l.confidence * ctx.trust).clamp(0.0, 1.0);
                    (i, l)
                })
                .collect();
        }
        items.sort_by_key(|(i, _)| *i);
        out = items.into_iter().map(|(_, l)| l).collect();
    }
    // "Totali: 144.200 lekë" in a text whose numbers do not tell their convention: read as
    // 144.2, but the lines add up to 144 200 exactly. The reading the lines confirm is the
    // total (a separator before exactly three digits groups thousands).
    if ctx.decimal_comma.is_none() && !out.is_empty() {
        let sum: Option<Decimal> = out.iter().map(|l| Some(l.quantity? * l.unit_price?)).sum();
        if let Some(f) = facts.get_mut("total") {
            let read = Decimal::from_str(&f.value).ok();
            let grouped = read.and_then(|t| t.checked_mul(Decimal::from(1000)));
            if read.is_some_and(|t| t.fract() != Decimal::ZERO && t.scale() <= 3)
                && sum.is_some_and(|s| Some(s) == grouped)
            {
                f.value = grouped.unwrap_or_default().normalize().to_string();
            }
        }
    }
    if !facts.contains_key("total") && !doubts.iter().any(|d| d.starts_with("total")) {
        doubts.extend(unlabelled_total_row(lines, &out, dc));
    }
    let mut stated = stated;
    super::checks::discount_rows(&mut out, &mut stated);
    let total_value = facts
        .get("total")
        .and_then(|f| Decimal::from_str(&f.value).ok());
    let checked = super::checks::check_amounts(&out, &stated, total_value);
    // A count read from the number that starts a name is confirmed by a stated total (or
    // subtotal) that the lines add up to with it.
    if checked.is_empty() && (total_value.is_some() || !stated.subtotal.is_empty()) {
        for l in &mut out {
            if [
                Some(LEAD_COUNT_DOUBT),
                Some(PACK_COUNT_DOUBT),
                Some(SENTENCE_DOUBT),
                Some(BARE_PRICE_DOUBT),
            ]
            .contains(&l.doubt.as_deref())
            {
                l.doubt = None;
            }
        }
    }
    for l in &out {
        if let Some(d) = &l.doubt {
            doubts.push(d.clone());
        }
    }
    doubts.extend(checked);

    currency(text, ctx, &mut facts, &mut doubts);
    if kind == Kind::Form {
        doubts.extend(missing_pages(text));
    }
    district_city(&mut facts);
    // An address with a postcode and no country, in a currency only one country uses: that
    // country, as a guess below the review threshold (a person confirms it) — unless the
    // postcode has that country's form too ("050021" and pesos: Colombia) and the sender is
    // from no other country: two signs that agree.
    if !facts.contains_key("ship_to.country") && facts.contains_key("ship_to.postal_code") {
        let postal = facts.get("ship_to.postal_code").map(|f| f.value.clone());
        let fitting = |country: &str| {
            postal
                .as_deref()
                .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
                && postal_fits(postal.as_deref()).contains(&country)
                && ctx.sender_country.as_deref().is_none_or(|s| s == country)
        };
        let national = facts
            .get("currency")
            .and_then(|f| national_country(&f.value));
        let national_confidence = if national.is_some_and(fitting) {
            0.8
        } else {
            0.6
        };
        ctx.put(
            &mut facts,
            "ship_to.country",
            national.map(String::from),
            national_confidence,
        );
    }
    // The sender's country read for a postcode of its form (a guess a person confirms) is
    // confirmed by the one currency code the message writes when only that country pays in it
    // ("Prices NZD excl. GST" from a `.co.nz` sender to `Auckland 1060`, `DKK 2.482,50` from a
    // `.dk` one to `7100 Vejle`): two signs besides the postcode that agree, as a document in
    // the country's language does.
    let written = codes_in(text);
    let by_code = match written.as_slice() {
        [one] => currency_country(one),
        _ => None,
    };
    if let (Some(country), Some(code_country)) = (facts.get("ship_to.country"), by_code) {
        let postal = facts.get("ship_to.postal_code");
        let agree = country.value == code_country
            && ctx.sender_country.as_deref() == Some(code_country)
            && postal.is_some_and(|p| postal_fits(Some(&p.value)).contains(&code_country));
        if agree {
            let confirmed = postal.map_or(0.0, |p| p.confidence) * 0.95;
            if let Some(f) = facts.get_mut("ship_to.country") {
                f.confidence = f.confidence.max(confirmed);
            }
        }
    }
    // A city with neither postcode nor country ("Largo de São Domingos, 22 / Porto"): the
    // sender's country (its mail domain's), a guess below the review threshold.
    if !facts.contains_key("ship_to.country")
        && !facts.contains_key("ship_to.postal_code")
        && facts.contains_key("ship_to.city")
    {
        // A sender of no country's domain (a fax service's): the country of the one currency
        // only it pays in ("Nairobi" and shillings), a guess below the review threshold too.
        let country = ctx.sender_country.clone().or_else(|| {
            facts
                .get("currency")
                .and_then(|f| national_country(&f.value))
                .map(String::from)
        });
        ctx.put(&mut facts, "ship_to.country", country, 0.6);
    }
    for key in ["customer.name", "ship_to.name"] {
        if let Some(f) = facts.get_mut(key) {
            if let Some(v) = unspaced_cjk(&f.value) {
                f.value = v;
            }
        }
    }
    // A Spanish document in euros with a Spanish postcode (five digits, a province 01–52):
    // Spain, the one country that writes Spanish and pays in euros (Andorra's postcodes are
    // `AD500`), unless the sender is from another country.
    if !facts.contains_key("ship_to.country")
        && facts.get("currency").is_some_and(|f| f.value == "EUR")
        && facts
            .get("ship_to.postal_code")
            .is_some_and(|f| spanish_postcode(&f.value))
        && ctx.sender_country.as_deref().is_none_or(|s| s == "ES")
        && spanish(text)
    {
        ctx.put(&mut facts, "ship_to.country", Some("ES".into()), 0.8);
    }
    (facts, out, doubts)
}

/// A document that numbers its pages ("Page 1 of 2", "Seite 1 von 3", "Page 1/2") of which
/// the last did not arrive (a fax whose later pages were not sent, ending "Continued..."): its
/// later lines and its total are missing, so a person waits for them.
pub fn missing_pages(text: &str) -> Option<String> {
    re!(
        PAGE_OF,
        r"(?i)\b(?:page|seite|pagina|página|pag\.|pág\.|blatt|sida|side|strona|strana)\s+([0-9]{1,3})\s*(?:of|/|von|de|di|sur|van|av|af|z|ze|из)\s*([0-9]{1,3})\b"
    );
    let (mut seen, mut of) = (0u32, 0u32);
    for m in rx(&PAGE_OF)?.captures_iter(text) {
        let (Ok(n), Ok(t)) = (m[1].parse::<u32>(), m[2].parse::<u32>()) else {
            continue;
        };
        if n == 0 || n > t {
            continue;
        }
        seen = seen.max(n);
        of = of.max(t);
    }
    (seen > 0 && seen < of).then(|| {
        format!(
            "lines: the document is page {seen} of {of}; its later pages (their lines and the \
             total) did not arrive"
        )
    })
}

/// The country whose own currency a code names, for the currencies one country pays in
/// (others' use of them aside: the Faroes' and Greenland's krone, the Pacific's dollars):
/// `NZD` New Zealand, `DKK` Denmark. `None` for a currency of several countries (EUR, USD).
fn currency_country(code: &str) -> Option<&'static str> {
    Some(match code {
        "NZD" => "NZ",
        "DKK" => "DK",
        "AUD" => "AU",
        "NOK" => "NO",
        "SEK" => "SE",
        "CAD" => "CA",
        "GBP" => "GB",
        "PLN" => "PL",
        "CZK" => "CZ",
        "HUF" => "HU",
        "ZAR" => "ZA",
        "JPY" => "JP",
        "ISK" => "IS",
        _ => return None,
    })
}

/// The country of a currency only one country pays in (`ZAR` → South Africa); none for a
/// currency several share (the euro, the dollar).
fn national_country(code: &str) -> Option<&'static str> {
    Some(match code {
        "ZAR" => "ZA",
        "SEK" => "SE",
        "NOK" => "NO",
        "PLN" => "PL",
        "CZK" => "CZ",
        "BRL" => "BR",
        "MXN" => "MX",
        "CLP" => "CL",
        "JPY" => "JP",
        "KRW" => "KR",
        "INR" => "IN",
        "TWD" => "TW",
        "HKD" => "HK",
        "SGD" => "SG",
        "CNY" => "CN",
        "UAH" => "UA",
        "MYR" => "MY",
        "IDR" => "ID",
        "ILS" => "IL",
        "SAR" => "SA",
        "PHP" => "PH",
        "THB" => "TH",
        "VND" => "VN",
        "ISK" => "IS",
        "ALL" => "AL",
        "ARS" => "AR",
        "COP" => "CO",
        "RSD" => "RS",
        "BGN" => "BG",
        "TZS" => "TZ",
        "KES" => "KE",
        "NGN" => "NG",
        "PEN" => "PE",
        _ => return None,
    })
}

/// Whether total rows name two different order references of `refs`, each its own ("Total
/// pedido 2611: …", "Total pedido 2612: …").
fn two_orders_totalled(lines: &[&str], refs: &[(String, f64)]) -> bool {
    let mut named: Vec<&str> = Vec::new();
    for l in lines {
        if !is_total_row(l) {
            continue;
        }
        let tokens: Vec<&str> = l
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '/'))
            .collect();
        let mine: Vec<&str> = refs
            .iter()
            .map(|(r, _)| r.as_str())
            .filter(|r| tokens.contains(r))
            .collect();
        if let [one] = mine.as_slice() {
            if !named.contains(one) {
                named.push(one);
            }
        }
    }
    named.len() >= 2
}

/// A Spanish postcode: five digits, the first two a province (01–52).
fn spanish_postcode(p: &str) -> bool {
    p.len() == 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && p[..2].parse::<u32>().is_ok_and(|n| (1..=52).contains(&n))
}

/// Whether a document is written in Spanish: three of its order words or more.
fn spanish(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "pedido",
        "entregar en",
        "entrega",
        "cantidad",
        "cant.",
        "descripción",
        "precio",
        "importe",
        "proveedor",
        "fecha",
        "gracias",
        "saludos",
        "iva no incluido",
    ];
    let lower = text.to_lowercase();
    WORDS.iter().filter(|w| lower.contains(*w)).count() >= 3
}

/// Currency codes read as words.
/// Why a total the text states was not read, when no total was: a summary row whose amount
/// shows as `####` (a spreadsheet's cell too narrow for its number, pasted as it showed), or
/// a row that starts with a word for the total and ends with an amount but that no rule read
/// (a person reads it rather than the order going on without it).
fn unread_total(layout: &Layout, decimal_comma: bool) -> Option<String> {
    use super::checks::{row_kind, stated_amounts, RowKind};
    for (line, cs) in layout.lines.iter().zip(&layout.cells) {
        let Some(first) = cs.first() else {
            continue;
        };
        let word = first.text.split_whitespace().next().unwrap_or("");
        // The label is the row's first word, or all that stands before its first digit
        // ("Bruttó összesen:   100 063 Ft").
        let label = line[..line
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(line.len())]
            .trim()
            .trim_end_matches(|c: char| c.is_whitespace() || ":：$€£¥￥".contains(c));
        let total_word = row_kind(word.trim_end_matches([':', '：'])) == Some(RowKind::Total)
            || (!label.is_empty() && row_kind(label) == Some(RowKind::Total));
        let hashes = |c: &Cell| {
            let t = c.text.trim();
            t.len() >= 3 && t.chars().all(|ch| ch == '#')
        };
        if cs.len() >= 2 && cs.iter().any(hashes) && cs.iter().any(|c| row_kind(&c.text).is_some())
        {
            return Some(
                "total: the stated total shows as #### (a spreadsheet cell too narrow for its \
                 number) and cannot be read"
                    .into(),
            );
        }
        // The amount may end with its currency ("100 063 Ft", "1.815,61 lei").
        let last = cs.last().map_or("", |c| unmarked(c.text.trim()));
        if total_word
            && cs.len() >= 2
            && last.ends_with(|c: char| c.is_ascii_digit())
            && stated_amounts(line, decimal_comma) == Default::default()
        {
            return Some("total: a row states a total that was not read".into());
        }
    }
    None
}

/// `text` without a currency written after its amount ("100 063 Ft" → "100 063").
fn unmarked(text: &str) -> &str {
    match text.rsplit_once(char::is_whitespace) {
        Some((head, mark))
            if currency_of(mark.trim_end_matches('.')).is_some()
                || (mark.chars().count() <= 2 && !mark.chars().any(char::is_alphanumeric)) =>
        {
            head.trim_end()
        }
        _ => text,
    }
}

/// A row that states an amount in money, under a label the rules do not know, that is at
/// least what the lines add up to ("Brutto végösszeg: 100 063 Ft" in a language no label
/// list holds): when no total was read, it may be the order's total, and a person reads it.
/// A label is short and has no digits; the amount is the row's only number, written with
/// its currency or with two decimals, and at most twice the lines' sum (taxes and charges
/// added, not an account or reference number).
fn unlabelled_total_row(lines: &[&str], out: &[Line], decimal_comma: bool) -> Option<String> {
    use super::checks::{numbers, row_kind};
    let sum: Decimal = out
        .iter()
        .map(|l| Some(l.quantity? * l.unit_price?))
        .sum::<Option<Decimal>>()?;
    if sum <= Decimal::ZERO {
        return None;
    }
    for line in lines {
        let t = ascii_digits(line.trim());
        let nums = numbers(&t);
        let [(n, after)] = nums.as_slice() else {
            continue;
        };
        let before = t[..t.len() - after.len() - n.len()].trim_end();
        let label = before
            .trim()
            .trim_end_matches(|c: char| c.is_whitespace() || ":：$€£¥￥₪₹₩₺".contains(c));
        let words = label.split_whitespace().count();
        if label.is_empty()
            || !(1..=4).contains(&words)
            || label.chars().count() > 32
            || label.chars().any(|c| c.is_ascii_digit())
            || row_kind(label).is_some()
            || out
                .iter()
                .any(|l| l.name.as_deref().is_some_and(|n| contains_ci(n, label)))
        {
            continue;
        }
        let after = after.trim();
        let two_decimals = n.len() > 3
            && n[n.len() - 3..].starts_with(['.', ','])
            && n[n.len() - 2..].chars().all(|c| c.is_ascii_digit());
        let mark = |m: &str| {
            currency_of(m.trim_end_matches('.')).is_some()
                || (!m.is_empty()
                    && m.chars().count() <= 2
                    && !m.chars().any(char::is_alphanumeric))
        };
        let mark_after = !after.is_empty() && mark(after);
        let mark_before = before
            .rsplit(|c: char| c.is_whitespace() || c == ':')
            .next()
            .is_some_and(mark);
        // Words after the amount make a sentence, not a summary row.
        if !(after.is_empty() || mark_after) || !(mark_after || mark_before || two_decimals) {
            continue;
        }
        let Some(amount) = parse_decimal(n, decimal_comma) else {
            continue;
        };
        if amount >= sum && amount <= sum * Decimal::from(2) {
            return Some(format!(
                "total: \"{}\" states an amount above the lines' sum under a label not read as \
                 a total; the order's total may be unread",
                label
            ));
        }
    }
    None
}

const CODES: &[&str] = &[
    "USD", "GBP", "EUR", "CNY", "RMB", "HKD", "TWD", "NTD", "CAD", "AUD", "NZD", "JPY", "CHF",
    "MXN", "BRL", "SGD", "SEK", "NOK", "DKK", "PLN", "CZK", "INR", "KRW", "ZAR", "HUF", "TRY",
    "RON", "AED", "UAH", "MYR", "IDR", "ILS", "SAR", "PHP", "THB", "VND", "ISK", "ARS", "CLP",
    "COP", "RSD", "BGN", "TZS", "KES", "MAD", "NGN",
];

/// The currency a sign several countries write stands for in `country`: the dollar sign
/// (`dollar`) or the yen/yuan sign (`¥`, `￥`, `元`).
pub fn sign_currency(dollar: bool, country: Option<&str>) -> Option<&'static str> {
    match (dollar, country?) {
        (true, "US") => Some("USD"),
        (true, "CA") => Some("CAD"),
        (true, "AU") => Some("AUD"),
        (true, "NZ") => Some("NZD"),
        (true, "MX") => Some("MXN"),
        (true, "SG") => Some("SGD"),
        (true, "CL") => Some("CLP"),
        (true, "AR") => Some("ARS"),
        (true, "CO") => Some("COP"),
        (true, "HK") => Some("HKD"),
        (true, "TW") => Some("TWD"),
        (false, "JP") => Some("JPY"),
        (false, "CN") => Some("CNY"),
        _ => None,
    }
}

/// The doubt of a currency written only by a sign several currencies write, which no
/// country read says which ([`sign_currency`]).
pub fn sign_doubt(dollar: bool) -> String {
    format!(
        "currency: only the sign {} is written, which several currencies use",
        if dollar { "$" } else { "¥" }
    )
}

/// Whether a table header names its amounts by a bare sign several currencies write
/// (`Unit Price ($)`, `Amount $`, `単価（¥）`): `Some(true)` for the dollar, `Some(false)` for
/// the yen or yuan; `R$`, `US$`, `NT$` and the like name their own currency and are not bare.
pub fn header_sign(header: &[String]) -> Option<bool> {
    let bare = |cell: &str, sign: char| {
        cell.match_indices(sign).any(|(at, _)| {
            !cell[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_alphabetic)
        })
    };
    let dollar = header.iter().any(|c| bare(c, '$'));
    let yen = header.iter().any(|c| bare(c, '¥') || bare(c, '￥'));
    match (dollar, yen) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// The currency: a code or a labelled currency, else an unambiguous sign or word, else a
/// sign several countries use (`$`, `¥`) read by the ship-to country; a sign whose country
/// does not use it, or two different codes, are doubts.
fn currency(text: &str, ctx: &Ctx, facts: &mut Facts, doubts: &mut Vec<String>) {
    if let Some(l) = find_labelled(&Layout::new(text), ctx, "currency", false)
        .into_iter()
        .find(|l| !l.value.is_empty())
    {
        let cur = l.value.split_whitespace().next().and_then(currency_of);
        ctx.put(facts, "currency", cur.map(String::from), 0.95);
    }
    let codes = codes_in(text);
    // "1 025,70 EUR (about 1 190 USD, for our books only)": a code written only in a remark
    // in brackets is not the order's currency when one code stands outside them.
    let codes = match codes_in(&unbracketed(text)).as_slice() {
        [one] if codes.len() > 1 => vec![*one],
        _ => codes,
    };
    if codes.len() > 1 {
        doubts.push("currency: the message names different currencies".into());
    }
    if let Some(c) = codes.first() {
        let conf = if codes.len() > 1 { 0.5 } else { 0.9 };
        ctx.put(facts, "currency", Some((*c).into()), conf);
    }
    let lower = text.to_lowercase();
    for (mark, code, c) in [
        ("us dollars", "USD", 0.85),
        // The peso named with its country ("en pesos chilenos").
        ("pesos chilenos", "CLP", 0.85),
        ("pesos mexicanos", "MXN", 0.85),
        ("pesos argentinos", "ARS", 0.85),
        ("pesos colombianos", "COP", 0.85),
        ("us$", "USD", 0.9),
        ("£", "GBP", 0.85),
        ("€", "EUR", 0.85),
        (" euro", "EUR", 0.8),
        ("r$", "BRL", 0.85),
        ("chf", "CHF", 0.85),
        ("人民币", "CNY", 0.85),
        ("人民幣", "CNY", 0.85),
        ("円", "JPY", 0.85),
        ("nt$", "TWD", 0.85),
        ("新台幣", "TWD", 0.85),
        ("hk$", "HKD", 0.85),
        ("港幣", "HKD", 0.85),
        ("a$", "AUD", 0.85),
        ("nz$", "NZD", 0.85),
        ("c$", "CAD", 0.85),
        ("zł", "PLN", 0.85),
        ("kč", "CZK", 0.85),
        ("₱", "PHP", 0.85),
        ("฿", "THB", 0.85),
        ("บาท", "THB", 0.85),
        ("₫", "VND", 0.85),
        ("vnđ", "VND", 0.85),
        ("lekë", "ALL", 0.85),
        ("дин.", "RSD", 0.85),
        // The naira's sign and its name, and Kenya's shillings named in words ("Amount in
        // words: Kenya Shillings …").
        ("₦", "NGN", 0.85),
        (" naira", "NGN", 0.8),
        ("kenya shillings", "KES", 0.85),
        ("kenyan shillings", "KES", 0.85),
    ] {
        if lower.contains(mark) {
            ctx.put(facts, "currency", Some(code.into()), c);
        }
    }
    // Signs and words written after the amount: "4 890 Ft", "145,00 TL", "38,000원",
    // "12,50 lei", "845,00 грн", "85,00 ر.س"; before it: "RM 78.00", "Rp 185.000,-"; and the
    // rupee, lira, won, hryvnia and shekel signs anywhere.
    re!(
        AFTER_AMOUNT,
        r"(?:[0-9]\s?(Ft|TL|원|lei|Lei|RON|грн|лв|дин|din\.|ر\.س|DH|Dh)(?:[^\w]|$))|([₹₺₩₴₪])|(?:(?:^|[\s:(])(RM|Rp|TSh|KSh|S/\.?)\s?[0-9])"
    );
    if !facts.contains_key("currency") {
        if let Some(c) = rx(&AFTER_AMOUNT)
            .and_then(|r| r.captures(text))
            .and_then(|c| c.get(1).or_else(|| c.get(2)).or_else(|| c.get(3)))
            .and_then(|m| currency_of(m.as_str()))
        {
            ctx.put(facts, "currency", Some(c.into()), 0.85);
        }
    }
    // "Unit Price (RM)", "Grand Total (RM)": a currency in brackets after a price or total.
    if !facts.contains_key("currency") {
        let cur = text.lines().find_map(|l| {
            let lower = l.to_lowercase();
            ["price", "amount", "total", "harga", "jumlah"]
                .iter()
                .any(|w| lower.contains(w))
                .then(|| {
                    // "Price each (R)", "Total (R)": the rand's sign, which no other
                    // currency writes alone in a header's brackets.
                    re!(
                        RAND_HEADER,
                        r"(?i)\b(?:price|each|amount|total|cost)\s+\(R\)(?:[\s|,;]|$)"
                    );
                    bracketed_currency(l).or_else(|| {
                        rx(&RAND_HEADER)
                            .is_some_and(|r| r.is_match(l))
                            .then_some("ZAR")
                    })
                })
                .flatten()
        });
        ctx.put(facts, "currency", cur.map(String::from), 0.85);
    }
    // "R 245.00", "R3 993.80": the South African rand (`R$` is the real, read above).
    re!(RAND, r"(?:^|[\s:])R\s?[0-9][0-9 ]*[.,][0-9]{2}(?:\s|$)");
    if !facts.contains_key("currency") && rx(&RAND).is_some_and(|r| r.is_match(text)) {
        ctx.put(facts, "currency", Some("ZAR".into()), 0.8);
    }
    if facts.contains_key("currency") {
        return;
    }
    // The sender's usual currency, when the message states none.
    if let Some(cur) = ctx.template.and_then(|t| t.currency.clone()) {
        ctx.put(facts, "currency", Some(cur), 0.9);
        return;
    }
    // A sign several countries use: the ship-to country says which.
    let country = facts.get("ship_to.country").map(|f| f.value.clone());
    // "kr"/"kr." by an amount is the crown of the country it is shipped to.
    re!(
        CROWN,
        r"(?i)(?:[0-9]\s*kr\.?(?:[^\w]|$)|(?:^|[^\w])kr\.?\s*[0-9])"
    );
    if rx(&CROWN).is_some_and(|r| r.is_match(text)) {
        let crown = match country.as_deref() {
            Some("SE") => Some("SEK"),
            Some("NO") => Some("NOK"),
            Some("DK") => Some("DKK"),
            Some("IS") => Some("ISK"),
            _ => None,
        };
        match crown {
            Some(code) => ctx.put(facts, "currency", Some(code.into()), 0.85),
            None => doubts
                .push("currency: only the sign kr is written, which several currencies use".into()),
        }
        return;
    }
    // "dirhams" by an amount: Morocco's and the Emirates' currency both; the country says
    // which.
    re!(DIRHAM, r"(?i)[0-9]\s*dirhams?\b");
    if rx(&DIRHAM).is_some_and(|r| r.is_match(text)) {
        match country.as_deref() {
            Some("MA") => ctx.put(facts, "currency", Some("MAD".into()), 0.85),
            Some("AE") => ctx.put(facts, "currency", Some("AED".into()), 0.85),
            _ => doubts.push(
                "currency: only the word dirhams is written, which several currencies use".into(),
            ),
        }
        return;
    }
    let dollar = text.contains('$');
    let yen = text.contains(['¥', '￥', '元']);
    // No country read: a yen sign in a text written in Japanese (kana) is the yen's.
    let country = country.or_else(|| (yen && !dollar && has_kana(text)).then(|| "JP".to_string()));
    if dollar || yen {
        match sign_currency(dollar, country.as_deref()) {
            Some(code) => ctx.put(facts, "currency", Some(code.into()), 0.85),
            None => {
                let guess = if dollar { "USD" } else { "CNY" };
                ctx.put(facts, "currency", Some(guess.into()), 0.5);
                doubts.push(sign_doubt(dollar));
            }
        }
    }
}

/// Whether `text` has Japanese kana (hiragana or katakana, half-width katakana too), which
/// only Japanese is written with.
fn has_kana(text: &str) -> bool {
    text.chars().any(|c| {
        ('\u{3041}'..='\u{3096}').contains(&c)
            || ('\u{30a1}'..='\u{30fa}').contains(&c)
            || ('\u{ff66}'..='\u{ff9d}').contains(&c)
    })
}

/// The currency codes written as words in `text`, in the order of [`CODES`].
fn codes_in(text: &str) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = Vec::new();
    for code in CODES {
        let mut from = 0;
        while let Some(at) = text[from..].find(code) {
            let start = from + at;
            let end = start + code.len();
            // A part of an item code ("COP-CAR-250") is no currency.
            let word =
                |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
            // Nor is a part of a reference between slashes ("vendor code GLS/VND/044").
            let slashed = text[..start].ends_with('/')
                && text[..start - 1]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric());
            if !word(text[..start].chars().next_back())
                && !word(text[end..].chars().next())
                && !slashed
            {
                if let Some(c) = currency_of(code) {
                    if !codes.contains(&c) {
                        codes.push(c);
                    }
                }
                break;
            }
            from = end;
        }
    }
    codes
}

/// `text` without what stands in round brackets (over lines too, as a remark may wrap).
pub fn unbracketed(text: &str) -> String {
    let mut depth = 0usize;
    text.chars()
        .filter(|c| {
            match c {
                '(' | '（' => depth += 1,
                ')' | '）' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect()
}

#[cfg(test)]
mod tests;
