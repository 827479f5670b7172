//! A warehouse without an API that packs but does not book carriers, simulated for demos and
//! tests: it watches a pick-list warehouse's `folder`, takes every pick list that appears
//! (the file is removed, as a warehouse takes it when it picks) and, `after` a while, drops a
//! packed confirmation — rows with no carrier and no tracking number — into `confirmations`.
//! With `books_carrier = false` on that `[[warehouses]]` entry, ordergate's ship stage then
//! books the carrier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The packed confirmation of one pick list (its CSV), or `None` when it is not one: every
/// line in one parcel.
pub fn packed_confirmation(pick_list: &[u8]) -> Option<(String, Vec<u8>)> {
    packed_confirmation_in(pick_list, None)
}

/// The packed confirmation of one pick list, its units packed `units_per_parcel` to a parcel
/// (numbered in the `parcel` column) when given, else all in one.
pub fn packed_confirmation_in(
    pick_list: &[u8],
    units_per_parcel: Option<u32>,
) -> Option<(String, Vec<u8>)> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(pick_list);
    let headers = r.headers().ok()?.clone();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let (k, s, q) = (col("key")?, col("sku")?, col("quantity")?);
    let mut key = None;
    let mut lines: BTreeMap<String, String> = BTreeMap::new();
    for row in r.records().flatten() {
        key = key.or_else(|| row.get(k).map(str::to_string));
        lines.insert(row.get(s)?.to_string(), row.get(q)?.to_string());
    }
    let key = key?;
    let mut out = String::from("key,carrier,tracking_number,sku,quantity,parcel\n");
    let per = units_per_parcel.filter(|n| *n > 0).map(u64::from);
    let (mut parcel, mut in_parcel) = (1u64, 0u64);
    for (sku, quantity) in lines {
        // Whole units are counted into parcels; anything else travels as it is.
        match (per, quantity.parse::<u64>()) {
            (Some(per), Ok(mut left)) => {
                while left > 0 {
                    if in_parcel == per {
                        parcel += 1;
                        in_parcel = 0;
                    }
                    let take = left.min(per - in_parcel);
                    out.push_str(&format!("{key},,,{sku},{take},{parcel}\n"));
                    in_parcel += take;
                    left -= take;
                }
            }
            _ => out.push_str(&format!("{key},,,{sku},{quantity},{parcel}\n")),
        }
    }
    Some((key, out.into_bytes()))
}

/// Packs every pick list appearing in `folder` until `stop`, each `after` it was seen, every
/// line in one parcel.
pub fn spawn(
    folder: PathBuf,
    confirmations: PathBuf,
    after: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    spawn_in(folder, confirmations, after, None, stop)
}

/// Like [`spawn`], packing `units_per_parcel` units to a parcel when given.
pub fn spawn_in(
    folder: PathBuf,
    confirmations: PathBuf,
    after: Duration,
    units_per_parcel: Option<u32>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) =
                pack_all(&folder, &confirmations, after, units_per_parcel, &stop).await
            {
                tracing::debug!(error = %error, "Sandbox packer could not read its folders; trying again.");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.cancelled() => return,
            }
        }
    })
}

async fn pack_all(
    folder: &Path,
    confirmations: &Path,
    after: Duration,
    units_per_parcel: Option<u32>,
    stop: &CancellationToken,
) -> std::io::Result<()> {
    tokio::fs::create_dir_all(confirmations).await?;
    let mut dir = tokio::fs::read_dir(folder).await?;
    while let Some(entry) = dir.next_entry().await? {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || !name.ends_with(".csv") {
            continue;
        }
        let bytes = tokio::fs::read(&path).await?;
        tokio::fs::remove_file(&path).await?;
        let Some((key, confirmation)) = packed_confirmation_in(&bytes, units_per_parcel) else {
            continue;
        };
        let (confirmations, stop) = (confirmations.to_path_buf(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(after) => {}
                _ = stop.cancelled() => return,
            }
            let tmp = confirmations.join(format!(".{key}-packed.csv.part"));
            let done = confirmations.join(format!("{key}-packed.csv"));
            let written = async {
                tokio::fs::write(&tmp, &confirmation).await?;
                tokio::fs::rename(&tmp, &done).await
            };
            if let Err(error) = written.await {
                tracing::warn!(error = %error, "Sandbox packer could not write a confirmation.");
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pick_list_becomes_a_packed_confirmation() {
        let list = "key,order_id,order_number,line_no,sku,name,quantity\nog-1,o,#1,1,MUG,Mug,2\nog-1,o,#1,2,TEE,Tee,1\n";
        let (key, c) = packed_confirmation(list.as_bytes()).unwrap();
        assert_eq!(key, "og-1");
        let events = crate::outbound::warehouse::decode(
            crate::outbound::warehouse::WarehouseKind::PickList,
            &c,
        )
        .unwrap();
        assert!(
            matches!(&events[..], [crate::outbound::warehouse::WarehouseEvent::Packed { key: Some(k), .. }] if k == "og-1")
        );
        assert!(packed_confirmation(b"nothing,here\n1,2\n").is_none());
        // Two units a parcel: 2 mugs, then 1 tee.
        let list = "key,order_id,order_number,line_no,sku,name,quantity\nog-2,o,#2,1,MUG,Mug,2\nog-2,o,#2,2,TEE,Tee,1\n";
        let (_, c) = packed_confirmation_in(list.as_bytes(), Some(2)).unwrap();
        let events = crate::outbound::warehouse::decode(
            crate::outbound::warehouse::WarehouseKind::PickList,
            &c,
        )
        .unwrap();
        let [crate::outbound::warehouse::WarehouseEvent::Packed { parcels, .. }] = &events[..]
        else {
            panic!("{events:?}")
        };
        assert_eq!(parcels.len(), 2, "{parcels:?}");
    }
}
