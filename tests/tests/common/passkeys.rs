//! A software passkey authenticator for HTTP tests of the WebAuthn endpoints.
//!
//! [`SoftKey`] plays both the authenticator (an in-memory key store built on
//! `passkey-authenticator`) and the browser (`passkey-client`, which builds the client data,
//! checks the RP id against the origin and talks CTAP2 to the authenticator). It takes the
//! option objects the server hands to `navigator.credentials.create()` / `.get()` and returns
//! the JSON string Flask-Security's `webauthn.js` posts back as the `credential` field.
//!
//! Include it from an integration test with
//! `#[path = "common/passkeys.rs"] mod passkeys;`.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use passkey::authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
    UserValidationMethod,
};
use passkey::client::{Client, DefaultClientData, Origin};
use passkey::crypto::rust_crypto::RustCryptoBackend;
use passkey::types::ctap2::make_credential::{
    Options, PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
};
use passkey::types::ctap2::{Aaguid, Ctap2Error, StatusCode};
use passkey::types::webauthn::{
    AuthenticatedPublicKeyCredential, CreatedPublicKeyCredential, CredentialCreationOptions,
    CredentialRequestOptions, PublicKeyCredentialDescriptor, WellKnown,
};
use passkey::types::Passkey;
use serde_json::{json, Value};

/// A software passkey authenticator (an in-memory credential store) and the browser side of
/// the ceremonies.
///
/// It holds any number of credentials, for any number of users and RPs. It behaves like a
/// CTAP2 authenticator with a signature counter (0 at registration, then 1, 2, ... per
/// sign-in) and a built-in user verification that always succeeds:
/// * a credential is discoverable when the RP asks for `residentKey` "preferred" or
///   "required" (or `requireResidentKey`), and a new discoverable credential replaces an
///   older one for the same user handle on the same RP;
/// * registration is refused (as a browser would, with `InvalidStateError`) when one of the
///   `excludeCredentials` ids lives on this `SoftKey`: a second key for the same account
///   needs a second `SoftKey`;
/// * sign-in with an empty `allowCredentials` uses the newest discoverable credential for
///   the RP id.
#[derive(Default)]
pub struct SoftKey {
    /// The credentials; lent to an [`Authenticator`] for the length of each ceremony.
    keys: KeyRing,
    /// The credentials it makes keep no signature counter (always 0), as synced
    /// passkeys report.
    counterless: bool,
}

#[allow(dead_code)] // each test binary that includes this module uses only some of it
impl SoftKey {
    /// A new authenticator that performs user verification.
    pub fn new() -> SoftKey {
        SoftKey::default()
    }

    /// An authenticator whose credentials keep no signature counter (0 on every use), as
    /// synced passkeys do: only the server's single-use challenge stops a replay.
    pub fn counterless() -> SoftKey {
        SoftKey {
            counterless: true,
            ..SoftKey::default()
        }
    }

    /// Registration: `options` is the server's bare `PublicKeyCredentialCreationOptions` JSON
    /// (as py_webauthn's `options_to_json_dict` shapes it) and `origin` the page's origin, e.g.
    /// `http://localhost`. Returns the `credential` JSON string `webauthn.js` posts: `id`,
    /// `rawId`, `type`, `response` {`attestationObject`, `clientDataJSON`, `transports`} and
    /// `extensions`, a string holding the JSON of the client extension results.
    ///
    /// Panics when the ceremony fails; [`SoftKey::try_register`] returns the error instead.
    pub async fn register(&mut self, options: &Value, origin: &str) -> String {
        self.try_register(options, origin)
            .await
            .expect("the software authenticator refused to register")
    }

    /// [`SoftKey::register`], but a failed ceremony (say an excluded credential, reported as
    /// `AuthenticatorError(25)`) comes back as the `Debug` text of passkey's `WebauthnError`.
    pub async fn try_register(&mut self, options: &Value, origin: &str) -> Result<String, String> {
        let request: CredentialCreationOptions =
            serde_json::from_value(json!({ "publicKey": options }))
                .expect("registration options are PublicKeyCredentialCreationOptions JSON");
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let outcome = client
            .register(web_origin(origin), request, DefaultClientData)
            .await;
        self.keys = std::mem::take(client.authenticator_mut().store_mut());
        outcome
            .map(|created| attestation_json(&created))
            .map_err(|e| format!("{e:?}"))
    }

    /// Sign-in: `options` is the bare `PublicKeyCredentialRequestOptions` JSON (`challenge`,
    /// `timeout`, `rpId`, `allowCredentials`, `userVerification`); an empty `allowCredentials`
    /// makes the authenticator pick its discoverable credential for the RP id. Returns the
    /// `credential` JSON string: `id`, `rawId`, `type`, `response` {`authenticatorData`,
    /// `clientDataJSON`, `signature`, `userHandle`} and `assertionClientExtensions`.
    /// `userHandle` is base64url with padding, or "" when the credential has none.
    ///
    /// Panics when the ceremony fails; [`SoftKey::try_sign_in`] returns the error instead.
    pub async fn sign_in(&mut self, options: &Value, origin: &str) -> String {
        self.try_sign_in(options, origin)
            .await
            .expect("the software authenticator refused to sign in")
    }

    /// [`SoftKey::sign_in`], but a failed ceremony (say no usable credential, reported as
    /// `CredentialNotFound`) comes back as the `Debug` text of passkey's `WebauthnError`.
    pub async fn try_sign_in(&mut self, options: &Value, origin: &str) -> Result<String, String> {
        let request: CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": options }))
                .expect("sign-in options are PublicKeyCredentialRequestOptions JSON");
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let outcome = client
            .authenticate(web_origin(origin), request, DefaultClientData)
            .await;
        self.keys = std::mem::take(client.authenticator_mut().store_mut());
        outcome
            .map(|asserted| assertion_json(&asserted))
            .map_err(|e| format!("{e:?}"))
    }

    /// How many credentials this authenticator holds.
    pub fn credential_count(&self) -> usize {
        self.keys.0.len()
    }

    /// An authenticator over this key's credentials (moved out until the ceremony ends).
    fn authenticator(&mut self) -> Authenticator<KeyRing, Approver, RustCryptoBackend> {
        let keys = std::mem::take(&mut self.keys);
        let mut authenticator =
            Authenticator::new(Aaguid::new_empty(), keys, Approver, RustCryptoBackend);
        authenticator.set_make_credentials_with_signature_counter(!self.counterless);
        authenticator
    }
}

/// Parses `origin` (e.g. `http://localhost`) into passkey's request origin.
///
/// `passkey` does not re-export the `url` crate, so the URL is parsed by deserialising the
/// one public passkey type that holds URLs (the related-origins document).
fn web_origin(origin: &str) -> Origin<'static> {
    let parsed: WellKnown = serde_json::from_value(json!({ "origins": [origin] }))
        .expect("the origin is an absolute URL such as http://localhost");
    let url = parsed
        .origins
        .into_iter()
        .next()
        .expect("one origin was parsed");
    Origin::from(url)
}

/// base64url without padding, as `webauthn.js` encodes binary fields.
fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The registration `credential` string `webauthn.js` posts.
fn attestation_json(created: &CreatedPublicKeyCredential) -> String {
    let response = &created.response;
    let extensions = serde_json::to_string(&created.client_extension_results)
        .expect("client extension results serialise");
    let transports = response
        .transports
        .as_ref()
        .map(|t| serde_json::to_value(t).expect("transports serialise"));
    json!({
        "id": created.id,
        "rawId": b64(&created.raw_id),
        "type": "public-key",
        "response": {
            "attestationObject": b64(&response.attestation_object),
            "clientDataJSON": b64(&response.client_data_json),
            "transports": transports,
        },
        "extensions": extensions,
    })
    .to_string()
}

/// The sign-in `credential` string `webauthn.js` posts.
fn assertion_json(asserted: &AuthenticatedPublicKeyCredential) -> String {
    let response = &asserted.response;
    let extensions = serde_json::to_string(&asserted.client_extension_results)
        .expect("client extension results serialise");
    let user_handle = response
        .user_handle
        .as_ref()
        .map(|handle| URL_SAFE.encode(handle.as_slice()))
        .unwrap_or_default();
    json!({
        "id": asserted.id,
        "rawId": b64(&asserted.raw_id),
        "type": "public-key",
        "response": {
            "authenticatorData": b64(&response.authenticator_data),
            "clientDataJSON": b64(&response.client_data_json),
            "signature": b64(&response.signature),
            "userHandle": user_handle,
        },
        "assertionClientExtensions": extensions,
    })
    .to_string()
}

/// The user at the authenticator: present, verified when asked, and declining (as CTAP2
/// requires) when the RP's exclude list names a credential this authenticator holds.
struct Approver;

#[rocket::async_trait]
impl UserValidationMethod for Approver {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        hint: UiHint<'a, Self::PasskeyItem>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        if matches!(hint, UiHint::InformExcludedCredentialFound(_)) {
            return Err(Ctap2Error::CredentialExcluded);
        }
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

/// The authenticator's credentials, oldest first.
///
/// passkey's own `MemoryStore` cannot serve an empty allow list and `Option<Passkey>` holds
/// one credential, hence this store.
#[derive(Default)]
struct KeyRing(Vec<Passkey>);

#[rocket::async_trait]
impl CredentialStore for KeyRing {
    type PasskeyItem = Passkey;

    /// The credentials for `rp_id` named in `ids`, or with no `ids` its discoverable ones;
    /// newest first, since the authenticator signs with the first.
    async fn find_credentials(
        &self,
        ids: Option<&[PublicKeyCredentialDescriptor]>,
        rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Passkey>, StatusCode> {
        let wanted = |key: &Passkey| match ids {
            Some(ids) => ids.iter().any(|d| d.id == key.credential_id),
            None => key.user_handle.is_some(),
        };
        let found: Vec<Passkey> = self
            .0
            .iter()
            .rev()
            .filter(|key| key.rp_id == rp_id && wanted(key))
            .cloned()
            .collect();
        if found.is_empty() {
            Err(Ctap2Error::NoCredentials.into())
        } else {
            Ok(found)
        }
    }

    /// Keeps `cred`; a discoverable one replaces any earlier one for the same user and RP.
    async fn save_credential(
        &mut self,
        cred: Passkey,
        _user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        _options: Options,
    ) -> Result<(), StatusCode> {
        if cred.user_handle.is_some() {
            self.0
                .retain(|key| key.rp_id != cred.rp_id || key.user_handle != cred.user_handle);
        }
        self.0.push(cred);
        Ok(())
    }

    /// Stores the bumped signature counter of `cred`.
    async fn update_credential(&mut self, cred: &Passkey) -> Result<(), StatusCode> {
        let slot = self
            .0
            .iter_mut()
            .find(|key| key.credential_id == cred.credential_id)
            .ok_or(StatusCode::from(Ctap2Error::NoCredentials))?;
        *slot = cred.clone();
        Ok(())
    }

    /// Discoverable exactly when the RP's resident-key preference asks for it.
    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::Full,
        }
    }
}
