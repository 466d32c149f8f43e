//! The console as an OpenID Connect relying party (authorisation code flow
//! with PKCE, RFC 7636, as a confidential client when it has a secret).
//!
//! The provider's endpoints and keys come from its discovery document
//! (`/.well-known/openid-configuration`), read at the first sign-in and read
//! again when an ID token names a key not seen yet (a rotation). The access
//! token is opaque here: it is handed to the registration service, which
//! checks it. Who signed in, their roles and office, come from the ID
//! token, whose signature, issuer, audience, expiry and nonce are checked.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;
use vrs_kit::token::Role;

/// `VRS_CONSOLE__OIDC__*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OidcConfig {
    /// The provider's issuer URL; its discovery document is under it.
    pub issuer_url: String,
    pub client_id: String,
    /// Empty: a public client (PKCE alone).
    pub client_secret: String,
    /// A CA for an HTTPS provider with a private certificate (besides the public roots).
    pub ca_file: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer_url: "http://127.0.0.1:8092".into(),
            client_id: "vrs-console".into(),
            client_secret: String::new(),
            ca_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    end_session_endpoint: String,
}

#[derive(Debug, Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: String,
    #[serde(default)]
    x: String,
    #[serde(default)]
    kid: String,
}

/// What the provider's token endpoint answers.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: i64,
    id_token: String,
}

/// The claims of an ID token the console reads.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    #[serde(default)]
    pub nonce: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub office: Option<String>,
}

/// `aud` is one string or a list (OIDC Core §2).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, id: &str) -> bool {
        match self {
            Audience::One(a) => a == id,
            Audience::Many(list) => list.iter().any(|a| a == id),
        }
    }
}

/// A finished sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub claims: IdClaims,
}

/// The provider's discovery document and its signing keys by key id.
type Known = Option<(Discovery, Vec<(String, VerifyingKey)>)>;

/// The provider, as the console knows it.
pub struct Provider {
    cfg: OidcConfig,
    http: reqwest::Client,
    known: RwLock<Known>,
}

impl Provider {
    pub fn new(cfg: OidcConfig) -> anyhow::Result<Provider> {
        let tls = vrs_kit::tls::https_client_config(&cfg.ca_file).context("oidc.ca_file")?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("the HTTP client of the identity provider")?;
        Ok(Provider {
            cfg,
            http,
            known: RwLock::new(None),
        })
    }

    async fn discovery(&self) -> anyhow::Result<Discovery> {
        if let Some((d, _)) = self.known.read().await.as_ref() {
            return Ok(d.clone());
        }
        self.refresh().await
    }

    /// Reads the discovery document and the keys again.
    async fn refresh(&self) -> anyhow::Result<Discovery> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.cfg.issuer_url.trim_end_matches('/')
        );
        let d: Discovery = self.get_json(&url).await?;
        if d.issuer.trim_end_matches('/') != self.cfg.issuer_url.trim_end_matches('/') {
            bail!(
                "the discovery document names issuer {}, not {}",
                d.issuer,
                self.cfg.issuer_url
            );
        }
        let jwks: Jwks = self.get_json(&d.jwks_uri).await?;
        let keys = jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
            .filter_map(|k| {
                let x: [u8; 32] = URL_SAFE_NO_PAD.decode(&k.x).ok()?.try_into().ok()?;
                Some((k.kid, VerifyingKey::from_bytes(&x).ok()?))
            })
            .collect();
        *self.known.write().await = Some((d.clone(), keys));
        Ok(d)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> anyhow::Result<T> {
        let r = self.http.get(url).send().await.with_context(|| format!("GET {url}"))?;
        if !r.status().is_success() {
            bail!("GET {url}: {}", r.status());
        }
        r.json()
            .await
            .with_context(|| format!("GET {url}: not the expected JSON"))
    }

    /// Where to send the browser to sign in: the PKCE challenge of `verifier`, `state` and `nonce`.
    pub async fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> anyhow::Result<String> {
        let d = self.discovery().await?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Ok(vrs_kit::html::with_query(
            &d.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", &self.cfg.client_id),
                ("redirect_uri", redirect_uri),
                ("scope", "openid profile"),
                ("state", state),
                ("nonce", nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
    }

    /// Where to send the browser after signing out here, so the provider's session ends too.
    pub async fn logout_url(&self, back: &str) -> Option<String> {
        let d = self.discovery().await.ok()?;
        if d.end_session_endpoint.is_empty() {
            return None;
        }
        Some(vrs_kit::html::with_query(
            &d.end_session_endpoint,
            &[("client_id", &self.cfg.client_id), ("post_logout_redirect_uri", back)],
        ))
    }

    /// Redeems an authorisation code and checks the ID token that comes with it.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> anyhow::Result<SignedIn> {
        let d = self.discovery().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", self.cfg.client_id.as_str()),
        ];
        if !self.cfg.client_secret.is_empty() {
            form.push(("client_secret", self.cfg.client_secret.as_str()));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = self
            .http
            .post(&d.token_endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .context("the token endpoint")?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            bail!(
                "the token endpoint refused the code: {status} {}",
                text.chars().take(300).collect::<String>()
            );
        }
        let t: TokenResponse = r.json().await.context("the token endpoint's answer")?;
        if !t.token_type.eq_ignore_ascii_case("bearer") {
            bail!("token type {}, not Bearer", t.token_type);
        }
        let claims = match self.check_id_token(&t.id_token, &d, nonce).await {
            Err(e) if e.to_string().contains("unknown key") => {
                // A key rotated at the provider: read its keys once more.
                let d = self.refresh().await?;
                self.check_id_token(&t.id_token, &d, nonce).await?
            }
            other => other?,
        };
        // The session lasts as long as the access token: a provider's ID
        // token may be much shorter-lived, and only says who signed in.
        let expires_at = if t.expires_in > 0 {
            chrono::Utc::now().timestamp().saturating_add(t.expires_in)
        } else {
            claims.exp
        };
        Ok(SignedIn {
            access_token: t.access_token,
            expires_at,
            claims,
        })
    }

    async fn check_id_token(&self, token: &str, d: &Discovery, nonce: &str) -> anyhow::Result<IdClaims> {
        #[derive(Deserialize)]
        struct Header {
            alg: String,
            #[serde(default)]
            kid: String,
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            bail!("the ID token is not a JWS");
        };
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h)?)?;
        if header.alg != "EdDSA" {
            bail!("ID token algorithm {}, not EdDSA", header.alg);
        }
        let key = {
            let known = self.known.read().await;
            let keys = known.as_ref().map(|(_, k)| k.as_slice()).unwrap_or_default();
            keys.iter()
                .find(|(kid, _)| header.kid.is_empty() && keys.len() == 1 || *kid == header.kid)
                .map(|(_, k)| *k)
                .ok_or_else(|| anyhow!("the ID token is signed by an unknown key"))?
        };
        let sig: [u8; 64] = URL_SAFE_NO_PAD
            .decode(s)?
            .try_into()
            .map_err(|_| anyhow!("the ID token's signature is not 64 bytes"))?;
        key.verify_strict(format!("{h}.{p}").as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| anyhow!("the ID token's signature does not verify"))?;
        let claims: IdClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p)?).context("the ID token's claims")?;
        let now = chrono::Utc::now().timestamp();
        if claims.iss != d.issuer {
            bail!("the ID token's issuer is {}, not {}", claims.iss, d.issuer);
        }
        if !claims.aud.contains(&self.cfg.client_id) {
            bail!("the ID token is for another client");
        }
        if claims.exp.saturating_add(60) < now || claims.iat.saturating_sub(60) > now {
            bail!("the ID token has expired or is not valid yet");
        }
        if claims.nonce != nonce {
            bail!("the ID token's nonce is not this sign-in's");
        }
        Ok(claims)
    }
}
