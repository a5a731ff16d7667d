//! TLS configuration: certificates from Ed25519 keys, and verifiers that pin public keys.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use streha_crypto::{Ed25519Role, Ed25519SecretKey};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// `blake3::derive_key` context for the stateless-reset key.
const RESET_KEY_CONTEXT: &str = "streha 2026-11-23 quic stateless reset key";

/// Keyed BLAKE3 as the HMAC that QUIC stateless-reset tokens are made with.
struct ResetKey(zeroize::Zeroizing<[u8; 32]>);

impl quinn::crypto::HmacKey for ResetKey {
    fn sign(&self, data: &[u8], signature_out: &mut [u8]) {
        let tag = blake3::keyed_hash(&self.0, data);
        let n = signature_out.len().min(32);
        signature_out[..n].copy_from_slice(&tag.as_bytes()[..n]);
    }

    fn signature_len(&self) -> usize {
        32
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), quinn::crypto::CryptoError> {
        use subtle::ConstantTimeEq;
        let tag = blake3::keyed_hash(&self.0, data);
        if signature.len() == 32 && bool::from(tag.as_bytes().ct_eq(signature)) {
            Ok(())
        } else {
            Err(quinn::crypto::CryptoError)
        }
    }
}

/// The server name a client sends. Nodes are identified by key, never by name; the value is
/// fixed and ignored by the verifier.
pub(crate) const SERVER_NAME: &str = "streha.invalid";

/// An endpoint's TLS identity: a self-signed certificate for its Ed25519 key.
pub struct Identity {
    public_key: [u8; 32],
    reset_key: zeroize::Zeroizing<[u8; 32]>,
    certificate: CertificateDer<'static>,
    private_key: PrivatePkcs8KeyDer<'static>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field(
                "public_key",
                &streha_crypto::Fingerprint::of_key_bytes(&self.public_key),
            )
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The identity of `key` (a node identity key or an application key).
    ///
    /// # Errors
    /// [`rustls::Error::General`] if the certificate cannot be generated.
    pub fn from_key<R: Ed25519Role>(key: &Ed25519SecretKey<R>) -> Result<Self, rustls::Error> {
        let der = key.to_pkcs8_der();
        let private_key = PrivatePkcs8KeyDer::from(der.to_vec());
        let key_pair =
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&private_key, &rcgen::PKCS_ED25519)
                .map_err(|e| rustls::Error::General(format!("key pair: {e}")))?;
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
            .map_err(|e| rustls::Error::General(format!("certificate parameters: {e}")))?;
        let certificate = params
            .self_signed(&key_pair)
            .map_err(|e| rustls::Error::General(format!("self-signed certificate: {e}")))?;
        let seed = zeroize::Zeroizing::new(key.as_dalek().to_bytes());
        let reset_key = zeroize::Zeroizing::new(blake3::derive_key(RESET_KEY_CONTEXT, &*seed));
        Ok(Self {
            public_key: key.public_key().to_bytes(),
            reset_key,
            certificate: certificate.der().clone(),
            private_key,
        })
    }

    /// An endpoint configuration whose stateless-reset key (RFC 9000 §10.3) is derived from
    /// this identity's secret key, so that after a restart the endpoint can tell its former
    /// peers at once that their connections are gone, instead of letting them wait for the
    /// idle timeout.
    pub fn endpoint_config(&self) -> quinn::EndpointConfig {
        let mut config = quinn::EndpointConfig::new(Arc::new(ResetKey(self.reset_key.clone())));
        // Connection ids carry a keyed check that the endpoint validates before it answers
        // an unknown connection with a reset; the key must survive the restart too.
        let mut cid_key = [0u8; 8];
        cid_key.copy_from_slice(
            &blake3::keyed_hash(&self.reset_key, b"connection ids").as_bytes()[..8],
        );
        let cid_key = u64::from_le_bytes(cid_key);
        config.cid_generator(move || {
            Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
        });
        config
    }

    /// The public key this identity presents.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.certificate.clone()],
            PrivateKeyDer::Pkcs8(self.private_key.clone_key()),
        )
    }
}

/// Which client keys a server accepts. Consulted on every handshake, so a roster update takes
/// effect for the next connection without a restart.
pub trait KeyPolicy: Send + Sync + fmt::Debug {
    /// Whether a client presenting `key` may connect.
    fn allows(&self, key: &[u8; 32]) -> bool;
    /// Called when a handshake is refused for `key` (a security event). The default does
    /// nothing.
    fn refused(&self, key: &[u8; 32]) {
        let _ = key;
    }
}

/// A [`KeyPolicy`] and a server-certificate pin that accept exactly one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedKey(pub [u8; 32]);

impl KeyPolicy for PinnedKey {
    fn allows(&self, key: &[u8; 32]) -> bool {
        &self.0 == key
    }
}

/// Limits that bound what one peer can make an endpoint spend.
#[derive(Debug, Clone, Copy)]
pub struct TransportLimits {
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Keep-alive interval (below the idle timeout).
    pub keep_alive: Duration,
    /// Most concurrent request streams per connection.
    pub max_concurrent_streams: u32,
}

impl Default for TransportLimits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            max_concurrent_streams: 64,
        }
    }
}

/// The 32 Ed25519 public-key bytes of an end-entity certificate, if it holds an Ed25519 key.
fn certificate_key(cert: &CertificateDer<'_>) -> Result<[u8; 32], rustls::Error> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let spki = parsed.subject_public_key_info();
    let bytes: &[u8] = spki.as_ref();
    match bytes.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        Some(key) if key.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(key);
            Ok(out)
        }
        _ => Err(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        )),
    }
}

/// The public key the peer of an established connection authenticated with.
pub fn peer_key(connection: &quinn::Connection) -> Option<[u8; 32]> {
    let identity = connection.peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certificate_key(chain.first()?).ok()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies the peer's certificate by its key alone, and its TLS 1.3 handshake signature.
struct Pinning {
    policy: Arc<dyn KeyPolicy>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for Pinning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinning")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Pinning {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ));
        }
        let key = certificate_key(end_entity)?;
        if self.policy.allows(&key) {
            Ok(())
        } else {
            self.policy.refused(&key);
            tracing::warn!(
                peer_key = %streha_crypto::Fingerprint::of_key_bytes(&key).short(),
                "security event: TLS handshake refused, the peer's key is not pinned"
            );
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl ServerCertVerifier for Pinning {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for Pinning {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

fn transport(limits: &TransportLimits) -> Result<Arc<quinn::TransportConfig>, rustls::Error> {
    let mut config = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(limits.idle_timeout)
        .map_err(|_| rustls::Error::General("idle timeout out of range".into()))?;
    config
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(limits.keep_alive))
        .max_concurrent_bidi_streams(limits.max_concurrent_streams.into())
        .max_concurrent_uni_streams(0u32.into());
    Ok(Arc::new(config))
}

/// What a server endpoint needs.
#[derive(Debug)]
pub struct ServerSetup<'a> {
    /// The server's identity (its node identity key).
    pub identity: &'a Identity,
    /// Which client keys may connect.
    pub clients: Arc<dyn KeyPolicy>,
    /// The ALPN protocol id served.
    pub alpn: &'a [u8],
    /// Resource limits.
    pub limits: TransportLimits,
}

/// A QUIC server configuration: TLS 1.3 only, client certificates required and pinned by
/// `setup.clients`, one ALPN, no 0-RTT.
///
/// # Errors
/// A [`rustls::Error`] if the configuration cannot be built.
pub fn server_config(setup: ServerSetup<'_>) -> Result<quinn::ServerConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(Pinning {
        policy: setup.clients,
        algorithms: provider.signature_verification_algorithms,
    });
    let (chain, key) = setup.identity.chain_and_key();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![setup.alpn.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(&setup.limits)?);
    Ok(config)
}

/// What a client endpoint needs to dial one server.
#[derive(Debug)]
pub struct ClientSetup<'a> {
    /// The client's identity (a node identity key, or an application key).
    pub identity: &'a Identity,
    /// The only server key accepted.
    pub server_key: [u8; 32],
    /// The ALPN protocol id spoken.
    pub alpn: &'a [u8],
    /// Resource limits.
    pub limits: TransportLimits,
}

/// A QUIC client configuration that presents `setup.identity` and accepts only a server
/// whose certificate holds `setup.server_key`.
///
/// # Errors
/// A [`rustls::Error`] if the configuration cannot be built.
pub fn client_config(setup: ClientSetup<'_>) -> Result<quinn::ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(Pinning {
        policy: Arc::new(PinnedKey(setup.server_key)),
        algorithms: provider.signature_verification_algorithms,
    });
    let (chain, key) = setup.identity.chain_and_key();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)?;
    tls.alpn_protocols = vec![setup.alpn.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(&setup.limits)?);
    Ok(config)
}
