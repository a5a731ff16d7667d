//! TLS configuration: certificates from Ed25519 keys, and verifiers that pin public keys.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::Signer as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, SignatureAlgorithm, SignatureScheme,
};
use streha_crypto::{Ed25519Role, Ed25519SecretKey};

use crate::ratelimit::LogLimiter;

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
///
/// The secret key is held once, as an `ed25519_dalek::SigningKey` (zeroized when the
/// identity and the TLS configurations made from it are dropped); it is never encoded as
/// PKCS#8 or handed to another library as bytes. The certificate and the TLS 1.3
/// handshake signatures are made with it directly.
pub struct Identity {
    public_key: [u8; 32],
    reset_key: zeroize::Zeroizing<[u8; 32]>,
    certified: Arc<CertifiedKey>,
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

/// The Ed25519 key that signs an identity's certificate and its TLS 1.3 handshakes.
struct TlsKey {
    key: Arc<ed25519_dalek::SigningKey>,
    public_key: [u8; 32],
}

impl fmt::Debug for TlsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsKey")
            .field(
                "public_key",
                &streha_crypto::Fingerprint::of_key_bytes(&self.public_key),
            )
            .finish_non_exhaustive()
    }
}

impl rcgen::PublicKeyData for TlsKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for TlsKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign(message).to_bytes().to_vec())
    }
}

impl rustls::sign::SigningKey for TlsKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        offered.contains(&SignatureScheme::ED25519).then(|| {
            Box::new(TlsKey {
                key: Arc::clone(&self.key),
                public_key: self.public_key,
            }) as Box<dyn rustls::sign::Signer>
        })
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&self.public_key);
        Some(SubjectPublicKeyInfoDer::from(spki))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}

impl rustls::sign::Signer for TlsKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(self.key.sign(message).to_bytes().to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

impl Identity {
    /// The identity of `key` (a node identity key or an application key).
    ///
    /// # Errors
    /// [`rustls::Error::General`] if the certificate cannot be generated.
    pub fn from_key<R: Ed25519Role>(key: &Ed25519SecretKey<R>) -> Result<Self, rustls::Error> {
        let tls_key = TlsKey {
            key: Arc::new(key.as_dalek().clone()),
            public_key: key.public_key().to_bytes(),
        };
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
            .map_err(|e| rustls::Error::General(format!("certificate parameters: {e}")))?;
        let certificate = params
            .self_signed(&tls_key)
            .map_err(|e| rustls::Error::General(format!("self-signed certificate: {e}")))?;
        let seed = zeroize::Zeroizing::new(key.as_dalek().to_bytes());
        let reset_key = zeroize::Zeroizing::new(blake3::derive_key(RESET_KEY_CONTEXT, &*seed));
        let public_key = tls_key.public_key;
        let certified = CertifiedKey::new(vec![certificate.der().clone()], Arc::new(tls_key));
        Ok(Self {
            public_key,
            reset_key,
            certified: Arc::new(certified),
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

    fn resolver(&self) -> Arc<SingleCertAndKey> {
        Arc::new(SingleCertAndKey::from(Arc::clone(&self.certified)))
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

/// The pin of a client on its server's key: accepts exactly one key, and remembers the last
/// other key a server presented, so that a refused handshake can be explained (which key
/// the address answered with, against the one configured).
#[derive(Debug)]
pub struct ServerKeyPin {
    key: [u8; 32],
    presented: std::sync::Mutex<Option<[u8; 32]>>,
}

impl ServerKeyPin {
    /// A pin on `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key,
            presented: std::sync::Mutex::new(None),
        }
    }

    /// The pinned key.
    pub fn key(&self) -> [u8; 32] {
        self.key
    }

    /// The last key a server presented that was refused, if any.
    pub fn refused_key(&self) -> Option<[u8; 32]> {
        *self
            .presented
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl KeyPolicy for ServerKeyPin {
    fn allows(&self, key: &[u8; 32]) -> bool {
        &self.key == key
    }

    fn refused(&self, key: &[u8; 32]) {
        *self
            .presented
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(*key);
    }
}

/// Limits that bound what one peer can make an endpoint spend. Defaults: `spec/protocol.md`
/// §11 and [`streha_wire::limits`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TransportLimits {
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Keep-alive interval (below the idle timeout).
    pub keep_alive: Duration,
    /// Most concurrent request streams the other side may open on a connection (servers;
    /// a client accepts none).
    pub max_concurrent_streams: u32,
    /// The QUIC receive window of a connection: the most bytes the other side may send
    /// ahead of what this side has read, over all streams. A stream's window is the same,
    /// capped at one frame.
    pub receive_window: u64,
    /// The most bytes this side buffers for sending on a connection, unacknowledged.
    pub send_window: u64,
    /// The most connection attempts a server holds before its accept loop has decided on
    /// them (QUIC `Incoming`s); more are refused by QUIC itself. Servers only.
    pub max_incoming: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            max_concurrent_streams: streha_wire::limits::MAX_STREAMS_PER_CONNECTION,
            receive_window: streha_wire::limits::RECEIVE_WINDOW,
            send_window: streha_wire::limits::MAX_BYTES_IN_FLIGHT_PER_CONNECTION as u64,
            max_incoming: 256,
        }
    }
}

/// Bytes of handshake data a server buffers per connection attempt beyond its first packet
/// (a client's Initial flight is one or two packets; 0-RTT is off).
const INCOMING_BUFFER: u64 = 16 * 1024;

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
    /// Refused handshakes are logged at most once per interval (the policy counts each).
    log: LogLimiter,
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
            if let Some(suppressed) = self.log.allow() {
                tracing::warn!(
                    peer_key = %streha_crypto::Fingerprint::of_key_bytes(&key).short(),
                    suppressed,
                    "security event: TLS handshake refused, the peer's key is not pinned \
                     (logged at most once per 10 s; `suppressed` more since the last line; \
                     every refusal is counted in streha_handshake_refusals_total)"
                );
            }
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

/// The QUIC transport parameters from `limits`; `streams` is how many request streams the
/// other side may open (a client accepts none).
fn transport(
    limits: &TransportLimits,
    streams: u32,
) -> Result<Arc<quinn::TransportConfig>, rustls::Error> {
    let mut config = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(limits.idle_timeout)
        .map_err(|_| rustls::Error::General("idle timeout out of range".into()))?;
    let window = |bytes: u64| {
        quinn::VarInt::from_u64(bytes)
            .map_err(|_| rustls::Error::General("receive window out of range".into()))
    };
    // A stream carries one frame: a window larger than that is never needed.
    let frame = (streha_wire::MAX_FRAME_LEN + streha_wire::frame::PREFIX_LEN) as u64;
    config
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(limits.keep_alive))
        .max_concurrent_bidi_streams(streams.into())
        .max_concurrent_uni_streams(0u32.into())
        .receive_window(window(limits.receive_window)?)
        .stream_receive_window(window(limits.receive_window.min(frame))?)
        .send_window(limits.send_window)
        .datagram_receive_buffer_size(None);
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
        log: LogLimiter::default(),
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(setup.identity.resolver());
    tls.alpn_protocols = vec![setup.alpn.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let limits = &setup.limits;
    config
        .transport_config(transport(limits, limits.max_concurrent_streams)?)
        .max_incoming(limits.max_incoming)
        .incoming_buffer_size(INCOMING_BUFFER)
        .incoming_buffer_size_total(INCOMING_BUFFER.saturating_mul(limits.max_incoming as u64));
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
    client_config_pinned(setup).map(|(config, _)| config)
}

/// [`client_config`], and the pin, which tells after a refused handshake which key the
/// server presented instead ([`ServerKeyPin::refused_key`]).
///
/// # Errors
/// A [`rustls::Error`] if the configuration cannot be built.
pub fn client_config_pinned(
    setup: ClientSetup<'_>,
) -> Result<(quinn::ClientConfig, Arc<ServerKeyPin>), rustls::Error> {
    let provider = provider();
    let pin = Arc::new(ServerKeyPin::new(setup.server_key));
    let verifier = Arc::new(Pinning {
        policy: Arc::clone(&pin) as Arc<dyn KeyPolicy>,
        algorithms: provider.signature_verification_algorithms,
        log: LogLimiter::default(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(setup.identity.resolver());
    tls.alpn_protocols = vec![setup.alpn.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(&setup.limits, 0)?);
    Ok((config, pin))
}
