//! Pagination styles, implemented once each: the `Link` header (Shopify `page_info`), a next
//! token in the body (Amazon `NextToken`), page numbers (WooCommerce, Magento) and offsets
//! (eBay). A [`Pager`] builds each page's request and decides from the response whether there
//! is another. Pure: no I/O, so the paging rules are tested here.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use crate::partner::definition::{
    render, scalar_text, select, DefinitionError, ListEndpoint, Pagination, TimeFormat,
};

/// One page's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Full URL (the base URL and path, or the platform's next-page link).
    pub url: String,
    /// Query parameters to add.
    pub query: Vec<(String, String)>,
}

/// Walks the pages of one poll.
#[derive(Debug)]
pub struct Pager<'a> {
    list: &'a ListEndpoint,
    base: String,
    params: &'a std::collections::BTreeMap<String, String>,
    since_format: TimeFormat,
    page_size: u32,
    /// The lower bound of the current window.
    since: DateTime<Utc>,
    page: u32,
    offset: u64,
    next_url: Option<String>,
    token: Option<String>,
}

impl<'a> Pager<'a> {
    /// A pager for the window starting at `since`; `base` is the API base URL.
    pub fn new(
        list: &'a ListEndpoint,
        base: &str,
        params: &'a std::collections::BTreeMap<String, String>,
        since_format: TimeFormat,
        page_size: u32,
        since: DateTime<Utc>,
    ) -> Self {
        let first_page = match &list.pagination {
            Pagination::PageNumber { first_page, .. } => *first_page,
            _ => 1,
        };
        Self {
            list,
            base: base.trim_end_matches('/').to_string(),
            params,
            since_format,
            page_size,
            since,
            page: first_page,
            offset: 0,
            next_url: None,
            token: None,
        }
    }

    /// The lower bound of the window being read.
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    fn first_query(&self) -> Result<Vec<(String, String)>, DefinitionError> {
        let since = self.since_format.format(self.since);
        let lookup = |name: &str| match name {
            "since" => Some(since.clone()),
            "page_size" => Some(self.page_size.to_string()),
            "page" => Some(self.page.to_string()),
            "offset" => Some(self.offset.to_string()),
            other => self.params.get(other).cloned(),
        };
        self.list
            .query
            .iter()
            .map(|(k, v)| Ok((k.clone(), render(v, lookup)?)))
            .collect()
    }

    /// The request for the current page.
    pub fn request(&self) -> Result<PageRequest, DefinitionError> {
        if let Some(url) = &self.next_url {
            return Ok(PageRequest {
                url: url.clone(),
                query: Vec::new(),
            });
        }
        let url = format!("{}{}", self.base, self.list.path);
        let mut query = self.first_query()?;
        if let (
            Some(token),
            Pagination::NextToken {
                token_param, keep, ..
            },
        ) = (&self.token, &self.list.pagination)
        {
            query.retain(|(k, _)| keep.contains(k));
            query.push((token_param.clone(), token.clone()));
        }
        Ok(PageRequest { url, query })
    }

    /// Moves to the next page after a response with `records` orders whose newest change time
    /// is `page_max`; false when this was the last page.
    pub fn advance(
        &mut self,
        headers: &HeaderMap,
        body: &serde_json::Value,
        records: usize,
        page_max: Option<DateTime<Utc>>,
    ) -> bool {
        let full = records >= self.page_size as usize && records > 0;
        match &self.list.pagination {
            Pagination::LinkHeader => {
                self.next_url = next_link(headers);
                self.next_url.is_some()
            }
            Pagination::NextToken { token_path, .. } => {
                self.token = select(body, token_path)
                    .and_then(scalar_text)
                    .filter(|t| !t.is_empty());
                self.token.is_some()
            }
            Pagination::PageNumber {
                first_page,
                total_path,
                total_pages_header,
                reanchor,
            } => {
                if !full {
                    return false;
                }
                let read = u64::from(self.page - first_page + 1) * u64::from(self.page_size);
                if let Some(total) = total_path.as_deref().and_then(|p| total_of(body, p)) {
                    if read >= total {
                        return false;
                    }
                }
                if let Some(pages) = total_pages_header
                    .as_deref()
                    .and_then(|h| headers.get(h))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u32>().ok())
                {
                    if self.page - first_page + 1 >= pages {
                        return false;
                    }
                }
                if *reanchor && self.reanchor(page_max) {
                    self.page = *first_page;
                } else {
                    self.page += 1;
                }
                true
            }
            Pagination::Offset {
                total_path,
                reanchor,
            } => {
                if !full {
                    return false;
                }
                let read = self.offset + records as u64;
                if let Some(total) = total_path.as_deref().and_then(|p| total_of(body, p)) {
                    if read >= total {
                        return false;
                    }
                }
                if *reanchor && self.reanchor(page_max) {
                    self.offset = 0;
                } else {
                    self.offset = read;
                }
                true
            }
        }
    }

    /// Starts the window again one second before the page's newest change, if that moves it
    /// forward (one second: platforms filter on whole seconds, some with "after", not "at or
    /// after").
    fn reanchor(&mut self, page_max: Option<DateTime<Utc>>) -> bool {
        match page_max.map(|m| m - chrono::Duration::seconds(1)) {
            Some(next) if next > self.since => {
                self.since = next;
                true
            }
            _ => false,
        }
    }
}

fn total_of(body: &serde_json::Value, path: &str) -> Option<u64> {
    let v = select(body, path)?;
    v.as_u64()
        .or_else(|| scalar_text(v).and_then(|s| s.parse().ok()))
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all("link") {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let mut pieces = part.split(';');
            let Some(url) = pieces.next() else { continue };
            let url = url.trim().trim_start_matches('<').trim_end_matches('>');
            if pieces.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            }) {
                return Some(url.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn list(pagination: Pagination) -> ListEndpoint {
        let mut query = BTreeMap::new();
        query.insert("since".to_string(), "{since}".to_string());
        query.insert("page".to_string(), "{page}".to_string());
        query.insert("offset".to_string(), "{offset}".to_string());
        query.insert("m".to_string(), "{market}".to_string());
        ListEndpoint {
            path: "/orders".into(),
            query,
            records: String::new(),
            page_size: 2,
            max_page_size: 2,
            pagination,
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn get<'a>(r: &'a PageRequest, k: &str) -> Option<&'a str> {
        r.query
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn link_header_follows_next() {
        let l = list(Pagination::LinkHeader);
        let params = BTreeMap::from([("market".to_string(), "X".to_string())]);
        let mut p = Pager::new(
            &l,
            "http://h/",
            &params,
            TimeFormat::Rfc3339,
            2,
            t("2026-01-01T00:00:00Z"),
        );
        let r = p.request().unwrap();
        assert_eq!(r.url, "http://h/orders");
        assert_eq!(get(&r, "since"), Some("2026-01-01T00:00:00Z"));
        assert_eq!(get(&r, "m"), Some("X"));
        let mut h = HeaderMap::new();
        h.insert("link", "<http://h/orders?page_info=p>; rel=\"previous\", <http://h/orders?page_info=n>; rel=\"next\"".parse().unwrap());
        assert!(p.advance(&h, &serde_json::Value::Null, 2, None));
        assert_eq!(
            p.request().unwrap(),
            PageRequest {
                url: "http://h/orders?page_info=n".into(),
                query: vec![]
            }
        );
        assert!(!p.advance(&HeaderMap::new(), &serde_json::Value::Null, 2, None));
    }

    #[test]
    fn next_token_keeps_only_named_params() {
        let l = list(Pagination::NextToken {
            token_path: "payload.NextToken".into(),
            token_param: "NextToken".into(),
            keep: vec!["m".into()],
        });
        let params = BTreeMap::from([("market".to_string(), "X".to_string())]);
        let mut p = Pager::new(
            &l,
            "http://h",
            &params,
            TimeFormat::Rfc3339,
            2,
            t("2026-01-01T00:00:00Z"),
        );
        let body = serde_json::json!({"payload": {"NextToken": "abc"}});
        assert!(p.advance(&HeaderMap::new(), &body, 2, None));
        let r = p.request().unwrap();
        assert_eq!(
            r.query,
            vec![
                ("m".to_string(), "X".to_string()),
                ("NextToken".to_string(), "abc".to_string())
            ]
        );
        assert!(!p.advance(
            &HeaderMap::new(),
            &serde_json::json!({"payload": {}}),
            2,
            None
        ));
    }

    #[test]
    fn page_numbers_reanchor_and_stop_on_totals() {
        let l = list(Pagination::PageNumber {
            first_page: 1,
            total_path: Some("total_count".into()),
            total_pages_header: None,
            reanchor: true,
        });
        let params = BTreeMap::from([("market".to_string(), "X".to_string())]);
        let mut p = Pager::new(
            &l,
            "http://h",
            &params,
            TimeFormat::Naive,
            2,
            t("2026-01-01T00:00:00Z"),
        );
        let body = serde_json::json!({"total_count": 10});
        // A full page whose newest order is later: start again from it, page 1.
        assert!(p.advance(&HeaderMap::new(), &body, 2, Some(t("2026-01-02T00:00:00Z"))));
        let r = p.request().unwrap();
        assert_eq!(get(&r, "since"), Some("2026-01-01T23:59:59"));
        assert_eq!(get(&r, "page"), Some("1"));
        // A full page that does not move the window: turn the page.
        assert!(p.advance(&HeaderMap::new(), &body, 2, Some(t("2026-01-02T00:00:00Z"))));
        assert_eq!(get(&p.request().unwrap(), "page"), Some("2"));
        // Total reached.
        let small = serde_json::json!({"total_count": 4});
        assert!(!p.advance(
            &HeaderMap::new(),
            &small,
            2,
            Some(t("2026-01-02T00:00:00Z"))
        ));
        // A short page ends it.
        let mut p = Pager::new(
            &l,
            "http://h",
            &params,
            TimeFormat::Naive,
            2,
            t("2026-01-01T00:00:00Z"),
        );
        assert!(!p.advance(&HeaderMap::new(), &body, 1, Some(t("2026-01-02T00:00:00Z"))));
    }

    #[test]
    fn offsets_step_by_records_and_stop_on_total() {
        let l = list(Pagination::Offset {
            total_path: Some("total".into()),
            reanchor: false,
        });
        let params = BTreeMap::from([("market".to_string(), "X".to_string())]);
        let mut p = Pager::new(
            &l,
            "http://h",
            &params,
            TimeFormat::Rfc3339Millis,
            2,
            t("2026-01-01T00:00:00Z"),
        );
        let body = serde_json::json!({"total": 5});
        assert_eq!(
            get(&p.request().unwrap(), "since"),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert!(p.advance(&HeaderMap::new(), &body, 2, None));
        assert_eq!(get(&p.request().unwrap(), "offset"), Some("2"));
        assert!(p.advance(&HeaderMap::new(), &body, 2, None));
        assert!(!p.advance(&HeaderMap::new(), &body, 1, None));
    }
}
