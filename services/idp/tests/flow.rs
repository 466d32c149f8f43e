//! The provider over real HTTP on loopback: discovery, the code flow with
//! PKCE, and the requests it must refuse.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, VerifyingKey};
use idp::{Account, Client, Config, Provider};
use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use vrs_kit::token::{KeySet, Role};

const CONSOLE: &str = "vrs-console";
const CONSOLE_CB: &str = "http://127.0.0.1:8091/auth/callback";
const CONFIDENTIAL: &str = "back-office";
const CONFIDENTIAL_SECRET: &str = "s3cret:with+odd/chars";
const CONFIDENTIAL_CB: &str = "https://back-office.example/cb?tenant=7";
const PASSWORD: &str = "correct horse battery staple";

struct Idp {
    url: String,
    key: VerifyingKey,
    http: reqwest::Client,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn http() -> reqwest::Client {
    let tls = vrs_kit::tls::https_client_config("").expect("TLS configuration");
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

fn config(dir: &tempfile::TempDir) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        signing_key_file: dir.path().join("issuer.key").display().to_string(),
        accounts_file: dir.path().join("accounts.toml").display().to_string(),
        clients: vec![
            Client {
                client_id: CONSOLE.into(),
                client_secret: String::new(),
                redirect_uris: vec![CONSOLE_CB.into()],
            },
            Client {
                client_id: CONFIDENTIAL.into(),
                client_secret: CONFIDENTIAL_SECRET.into(),
                redirect_uris: vec![CONFIDENTIAL_CB.into()],
            },
        ],
        accounts: vec![
            Account {
                username: "clerk-60".into(),
                password: PASSWORD.into(),
                name: "Trần Thị Bình".into(),
                roles: vec![Role::Clerk],
                office: Some("PC-60".into()),
            },
            Account {
                username: "auditor".into(),
                password: "another password".into(),
                name: "Hoàng Thu Hà".into(),
                roles: vec![Role::Auditor],
                office: None,
            },
        ],
        ..Config::default()
    }
}

async fn start_with(dir: tempfile::TempDir, cfg: Config) -> Idp {
    let provider = Provider::build(&cfg).await.expect("the provider starts");
    let url = provider.issuer_url();
    assert_eq!(url, format!("http://{}", provider.local_addr()));
    let seed = vrs_kit::keys::load_seed(std::path::Path::new(&cfg.signing_key_file)).expect("the key file");
    let key = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let stop = CancellationToken::new();
    tokio::spawn(provider.serve(stop.clone()));
    Idp {
        url,
        key,
        http: http(),
        stop,
        _dir: dir,
    }
}

async fn start() -> Idp {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir);
    start_with(dir, cfg).await
}

/// A PKCE verifier and its S256 challenge.
fn pkce(seed: u8) -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode([seed; 32]);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn authorize_params<'a>(client_id: &'a str, redirect_uri: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile"),
        ("state", "state/with spaces&amp"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// The query parameters of a redirect's `Location`.
fn location(r: &reqwest::Response) -> (Url, Vec<(String, String)>) {
    let loc = r
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("a Location")
        .to_str()
        .expect("ASCII");
    let url = Url::parse(loc).expect("an absolute URL");
    let pairs = url.query_pairs().into_owned().collect();
    (url, pairs)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl Idp {
    async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path_and_query}", self.url))
            .send()
            .await
            .expect("the provider answers")
    }

    async fn post_form(&self, path: &str, body: String, basic: Option<(&str, &str)>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let creds = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
            req = req.header(reqwest::header::AUTHORIZATION, format!("Basic {creds}"));
        }
        req.send().await.expect("the provider answers")
    }

    /// Signs in as `username` through the page; the code the browser is sent back with.
    async fn code(
        &self,
        client_id: &str,
        redirect_uri: &str,
        challenge: &str,
        username: &str,
        password: &str,
    ) -> String {
        let params = authorize_params(client_id, redirect_uri, challenge);
        let page = self.get(&format!("/authorize?{}", encode(&params))).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("a page");
        for needle in [
            r#"<html lang="vi">"#,
            r#"<form method="post" action="/authorize""#,
            r#"<label for="username">"#,
            r#"<label for="password">"#,
            r#"id="sign-in""#,
            "<main",
            "<h1>",
        ] {
            assert!(html.contains(needle), "the sign-in page has {needle}");
        }
        let mut form = params.clone();
        form.push(("username", username));
        form.push(("password", password));
        let r = self.post_form("/authorize", encode(&form), None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (url, pairs) = location(&r);
        assert!(url.as_str().starts_with(redirect_uri), "{url}");
        assert_eq!(param(&pairs, "state"), Some("state/with spaces&amp"));
        param(&pairs, "code").expect("a code").to_owned()
    }

    async fn redeem(&self, client_id: &str, redirect_uri: &str, code: &str, verifier: &str) -> reqwest::Response {
        let body = encode(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", client_id),
        ]);
        self.post_form("/token", body, None).await
    }
}

async fn error_of(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.expect("a JSON error");
    assert!(v["error_description"].is_string(), "{v}");
    v["error"].as_str().expect("an error code").to_owned()
}

/// The claims of a JWS whose signature verifies with `key` under `verify_strict`.
fn verified_claims(key: &VerifyingKey, jws: &str) -> (serde_json::Value, serde_json::Value) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3);
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("base64url")
        .try_into()
        .expect("64 bytes");
    key.verify_strict(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &Signature::from_bytes(&sig),
    )
    .expect("the signature verifies");
    let json = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("base64url")).expect("JSON");
    (json(parts[0]), json(parts[1]))
}

#[tokio::test]
async fn discovery_and_jwks_publish_the_signing_key() {
    let idp = start().await;
    let r = idp.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status(), StatusCode::OK);
    let d: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(d["issuer"], idp.url.as_str());
    assert_eq!(d["authorization_endpoint"], format!("{}/authorize", idp.url));
    assert_eq!(d["token_endpoint"], format!("{}/token", idp.url));
    assert_eq!(d["end_session_endpoint"], format!("{}/logout", idp.url));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], serde_json::json!(["EdDSA"]));
    let jwks: serde_json::Value = idp
        .http
        .get(d["jwks_uri"].as_str().expect("jwks_uri"))
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JSON");
    let key = &jwks["keys"][0];
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(key["x"], URL_SAFE_NO_PAD.encode(idp.key.as_bytes()));
    assert_eq!(key["kid"], vrs_kit::token::key_id(&idp.key));
    assert_eq!(idp.get("/healthz").await.text().await.expect("text"), "ok");
}

#[tokio::test]
async fn the_code_flow_with_pkce_yields_tokens_registration_accepts() {
    let idp = start().await;
    let (verifier, challenge) = pkce(1);
    let code = idp.code(CONSOLE, CONSOLE_CB, &challenge, "clerk-60", PASSWORD).await;
    let r = idp.redeem(CONSOLE, CONSOLE_CB, &code, &verifier).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[reqwest::header::CACHE_CONTROL], "no-store");
    let t: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 8 * 3600, "a working shift, by default");
    assert_eq!(t["scope"], "openid profile");

    let now = chrono::Utc::now().timestamp();
    let access = t["access_token"].as_str().expect("an access token");
    let claims = vrs_kit::token::verify_token(&KeySet::new(idp.key), "vrs-local-issuer", access, now)
        .expect("registration accepts it");
    assert_eq!(claims.sub, "clerk-60");
    assert_eq!(claims.roles, vec![Role::Clerk]);
    assert_eq!(claims.office.as_deref(), Some("PC-60"));
    assert_eq!(claims.aud, vrs_kit::token::AUDIENCE);
    assert!(!claims.jti.is_empty());

    let (header, id) = verified_claims(&idp.key, t["id_token"].as_str().expect("an ID token"));
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], vrs_kit::token::key_id(&idp.key));
    assert_eq!(id["iss"], idp.url.as_str());
    assert_eq!(id["aud"], CONSOLE);
    assert_eq!(id["sub"], "clerk-60");
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["name"], "Trần Thị Bình");
    assert_eq!(id["office"], "PC-60");
    assert_eq!(id["roles"], serde_json::json!(["clerk"]));
    assert_eq!(id["exp"], claims.exp);
    assert!(id["auth_time"].as_i64().is_some_and(|t| (now - 60..=now).contains(&t)));
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_basic_or_in_the_body() {
    let idp = start().await;
    let (verifier, challenge) = pkce(2);
    let body = |code: &str| {
        encode(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CONFIDENTIAL_CB),
            ("code_verifier", &verifier),
        ])
    };
    // The redirect URI's own query stays, and the code is added to it.
    let code = idp
        .code(CONFIDENTIAL, CONFIDENTIAL_CB, &challenge, "auditor", "another password")
        .await;
    let r = idp
        .post_form("/token", body(&code), Some((CONFIDENTIAL, CONFIDENTIAL_SECRET)))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: serde_json::Value = r.json().await.expect("JSON");
    let (_, id) = verified_claims(&idp.key, t["id_token"].as_str().expect("an ID token"));
    assert_eq!(
        (id["aud"].as_str(), id["sub"].as_str()),
        (Some(CONFIDENTIAL), Some("auditor"))
    );
    assert!(id.get("office").is_none());

    let code = idp
        .code(CONFIDENTIAL, CONFIDENTIAL_CB, &challenge, "auditor", "another password")
        .await;
    let post = format!(
        "{}&{}",
        body(&code),
        encode(&[("client_id", CONFIDENTIAL), ("client_secret", CONFIDENTIAL_SECRET)])
    );
    assert_eq!(idp.post_form("/token", post, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_confidential_client_without_its_secret_is_invalid_client() {
    let idp = start().await;
    let (verifier, challenge) = pkce(3);
    let code = idp
        .code(CONFIDENTIAL, CONFIDENTIAL_CB, &challenge, "auditor", "another password")
        .await;
    let r = idp.redeem(CONFIDENTIAL, CONFIDENTIAL_CB, &code, &verifier).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key(reqwest::header::WWW_AUTHENTICATE));
    assert_eq!(error_of(r).await, "invalid_client");
    // A wrong secret neither.
    let body = encode(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CONFIDENTIAL_CB),
        ("code_verifier", &verifier),
    ]);
    let r = idp.post_form("/token", body, Some((CONFIDENTIAL, "guess"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(r).await, "invalid_client");
    // Nor an unknown client.
    let r = idp.redeem("stranger", CONFIDENTIAL_CB, &code, &verifier).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_verifier_is_invalid_grant() {
    let idp = start().await;
    let (_, challenge) = pkce(4);
    let (other_verifier, _) = pkce(5);
    let code = idp.code(CONSOLE, CONSOLE_CB, &challenge, "clerk-60", PASSWORD).await;
    let r = idp.redeem(CONSOLE, CONSOLE_CB, &code, &other_verifier).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()[reqwest::header::CACHE_CONTROL], "no-store");
    assert_eq!(error_of(r).await, "invalid_grant");
}

#[tokio::test]
async fn a_code_redeemed_twice_is_invalid_grant() {
    let idp = start().await;
    let (verifier, challenge) = pkce(6);
    let code = idp.code(CONSOLE, CONSOLE_CB, &challenge, "clerk-60", PASSWORD).await;
    assert_eq!(
        idp.redeem(CONSOLE, CONSOLE_CB, &code, &verifier).await.status(),
        StatusCode::OK
    );
    let again = idp.redeem(CONSOLE, CONSOLE_CB, &code, &verifier).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(again).await, "invalid_grant");
    // Nor does a code issued for another redirect URI redeem.
    let code = idp.code(CONSOLE, CONSOLE_CB, &challenge, "clerk-60", PASSWORD).await;
    let r = idp
        .redeem(CONSOLE, "http://127.0.0.1:8091/elsewhere", &code, &verifier)
        .await;
    assert_eq!(error_of(r).await, "invalid_grant");
}

#[tokio::test]
async fn a_wrong_redirect_uri_gets_a_page_not_a_redirect() {
    let idp = start().await;
    let (_, challenge) = pkce(7);
    for (client, uri) in [
        (CONSOLE, "http://127.0.0.1:8091/auth/callback/../evil"),
        (CONSOLE, "https://evil.example/cb"),
        (CONSOLE, ""),
        ("stranger", CONSOLE_CB),
    ] {
        let q = encode(&authorize_params(client, uri, &challenge));
        let r = idp.get(&format!("/authorize?{q}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{client} {uri}");
        assert!(r.headers().get(reqwest::header::LOCATION).is_none());
        assert!(r.text().await.expect("a page").contains("<h1>"));
    }
}

#[tokio::test]
async fn a_wrong_password_is_401_with_the_same_message_for_unknown_names() {
    let idp = start().await;
    let (_, challenge) = pkce(8);
    let mut bodies = Vec::new();
    for (user, password) in [("clerk-60", "wrong"), ("nobody", PASSWORD)] {
        let mut form = authorize_params(CONSOLE, CONSOLE_CB, &challenge);
        form.push(("username", user));
        form.push(("password", password));
        let r = idp.post_form("/authorize", encode(&form), None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get(reqwest::header::LOCATION).is_none());
        let html = r.text().await.expect("a page");
        assert!(html.contains("Tên đăng nhập hoặc mật khẩu không đúng."));
        assert!(html.contains(r#"id="sign-in""#), "the form again");
        assert!(!html.contains(password), "the password is not echoed");
        bodies.push(html.replace(user, ""));
    }
    assert_eq!(
        bodies[0], bodies[1],
        "no difference between an unknown name and a wrong password"
    );
}

#[tokio::test]
async fn the_plain_method_and_other_bad_requests_go_back_with_an_error() {
    let idp = start().await;
    let (verifier, challenge) = pkce(9);
    let cases: [(&str, &str, &str); 5] = [
        ("code_challenge_method", "plain", "invalid_request"),
        ("code_challenge", verifier.as_str(), "invalid_request"),
        ("response_type", "token", "unsupported_response_type"),
        ("scope", "profile", "invalid_scope"),
        ("code_challenge", "short", "invalid_request"),
    ];
    for (name, value, error) in cases {
        let mut params = authorize_params(CONSOLE, CONSOLE_CB, &challenge);
        params.retain(|(k, _)| *k != name);
        params.push((name, value));
        if name == "code_challenge" && value == verifier {
            // The verifier itself as a "plain" challenge, method omitted: refused too.
            params.retain(|(k, _)| *k != "code_challenge_method");
        }
        let r = idp.get(&format!("/authorize?{}", encode(&params))).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name}={value}");
        let (url, pairs) = location(&r);
        assert!(url.as_str().starts_with(CONSOLE_CB));
        assert_eq!(param(&pairs, "error"), Some(error), "{name}={value}");
        assert!(param(&pairs, "error_description").is_some());
        assert_eq!(param(&pairs, "state"), Some("state/with spaces&amp"));
        assert!(param(&pairs, "code").is_none());
    }
    // The same refusals after the form is posted: no code for a plain challenge.
    let mut form = authorize_params(CONSOLE, CONSOLE_CB, &verifier);
    form.retain(|(k, _)| *k != "code_challenge_method");
    form.push(("code_challenge_method", "plain"));
    form.push(("username", "clerk-60"));
    form.push(("password", PASSWORD));
    let r = idp.post_form("/authorize", encode(&form), None).await;
    let (_, pairs) = location(&r);
    assert_eq!(param(&pairs, "error"), Some("invalid_request"));
    assert!(param(&pairs, "code").is_none());
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let idp = start().await;
    let (_, challenge) = pkce(10);
    let page = idp
        .get(&format!(
            "/authorize?{}",
            encode(&authorize_params(CONSOLE, CONSOLE_CB, &challenge))
        ))
        .await;
    for r in [&page, &idp.get("/nowhere").await, &idp.get("/jwks.json").await] {
        let h = r.headers();
        let csp = h[reqwest::header::CONTENT_SECURITY_POLICY].to_str().expect("ASCII");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:8091 https://back-office.example;"),
            "{csp}"
        );
        assert_eq!(h[reqwest::header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[reqwest::header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[reqwest::header::X_FRAME_OPTIONS], "DENY");
    }
    assert_eq!(page.headers()[reqwest::header::CACHE_CONTROL], "no-store");
    let css = idp.get("/static/idp.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn logout_goes_back_to_the_clients_own_origin_only() {
    let idp = start().await;
    let back = "http://127.0.0.1:8091/signed-out";
    let r = idp
        .get(&format!(
            "/logout?{}",
            encode(&[("client_id", CONSOLE), ("post_logout_redirect_uri", back)])
        ))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[reqwest::header::LOCATION], back);
    for q in [
        encode(&[
            ("client_id", CONSOLE),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ]),
        encode(&[("post_logout_redirect_uri", back)]),
        String::new(),
    ] {
        let r = idp.get(&format!("/logout?{q}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{q}");
        assert!(r.text().await.expect("a page").contains("Đã đăng xuất"));
    }
}

#[tokio::test]
async fn a_missing_accounts_file_is_created_private_and_read_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&dir);
    cfg.accounts.clear();
    cfg.accounts_file = dir.path().join("var/idp-accounts.toml").display().to_string();
    let first = Provider::build(&cfg).await.expect("the provider starts");
    drop(first);
    let text = std::fs::read_to_string(&cfg.accounts_file).expect("the file was created");
    for name in [
        "clerk-30",
        "clerk-60",
        "clerk-29",
        "supervisor",
        "auditor",
        "Nguyễn Văn An",
    ] {
        assert!(text.contains(name), "{name}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cfg.accounts_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The next start reads the same file: its passwords sign in.
    let table: toml::Table = toml::from_str(&text).expect("TOML");
    let clerk = table["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["username"].as_str() == Some("clerk-30")))
        .expect("clerk-30");
    let password = clerk["password"].as_str().expect("a password").to_owned();
    assert_eq!(URL_SAFE_NO_PAD.decode(&password).map(|b| b.len()).ok(), Some(16));
    let idp = start_with(dir, cfg).await;
    let (verifier, challenge) = pkce(11);
    let code = idp.code(CONSOLE, CONSOLE_CB, &challenge, "clerk-30", &password).await;
    let t: serde_json::Value = idp
        .redeem(CONSOLE, CONSOLE_CB, &code, &verifier)
        .await
        .json()
        .await
        .expect("JSON");
    let claims = vrs_kit::token::verify_token(
        &KeySet::new(idp.key),
        "vrs-local-issuer",
        t["access_token"].as_str().expect("a token"),
        chrono::Utc::now().timestamp(),
    )
    .expect("accepted");
    assert_eq!(claims.office.as_deref(), Some("PC-30"));
}

#[test]
fn the_configuration_layers_a_file_and_the_environment_over_the_defaults() {
    let defaults: Config = vrs_kit::config::load_from("idp", None, Default::default()).expect("defaults");
    assert_eq!(defaults.listen.port(), 8092);
    assert_eq!(defaults.clients.len(), 1);
    assert_eq!(defaults.clients[0].redirect_uris, vec![CONSOLE_CB.to_owned()]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("idp.toml");
    std::fs::write(
        &file,
        r#"
issuer_url = "https://idp.example"

[[clients]]
client_id = "console"
client_secret = "from-a-secret"
redirect_uris = ["https://console.example/auth/callback"]

[[accounts]]
username = "clerk-30"
password = "pw"
name = "Nguyễn Văn An"
roles = ["clerk"]
office = "PC-30"
"#,
    )
    .expect("write");
    let env = [("VRS_IDP__ACCESS_TOKEN_TTL_S".to_owned(), "60".to_owned())].into();
    let cfg: Config = vrs_kit::config::load_from("idp", Some(&file), env).expect("config");
    assert_eq!(cfg.issuer_url, "https://idp.example");
    assert_eq!(cfg.access_token_ttl_s, 60);
    assert_eq!(cfg.clients[0].client_secret, "from-a-secret");
    assert_eq!(cfg.accounts[0].roles, vec![Role::Clerk]);
    assert_eq!(cfg.accounts[0].office.as_deref(), Some("PC-30"));
    // Secrets never print.
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("from-a-secret") && !shown.contains("\"pw\""), "{shown}");
}
