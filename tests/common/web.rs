//! Plain-HTTP helpers for the dashboard: a client that does not follow redirects, the sign-in
//! with its double-submit cookie, cookies and CSRF fields of pages.

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `name="csrf"`'s hidden field in a page.
pub fn csrf_of(html: &str) -> String {
    let at =
        html.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

/// The `name=value` of a `Set-Cookie` for `name`.
pub fn cookie_of(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_string(), v.to_string()))
}

/// Signs in over plain HTTP; returns the session's cookie header and CSRF token.
pub async fn sign_in(base: &str, token: &str) -> (String, String) {
    let c = no_redirects();
    let page = c.get(format!("{base}/ui/login")).send().await.unwrap();
    let (login_cookie, _) = cookie_of(&page, "og_login").unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let resp = c
        .post(format!("{base}/ui/login"))
        .header("cookie", &login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let (session, attrs) = cookie_of(&resp, "og_session").expect("a session cookie");
    assert!(
        attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
        "{attrs}"
    );
    let page = c
        .get(format!("{base}/ui/pipeline"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.unwrap());
    (session, csrf)
}
