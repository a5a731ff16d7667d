//! Doors that take away a guarantee of the normal API: for test vectors only.
//!
//! Nothing in a running Streha node, client or command-line tool calls into this module.

use zeroize::Zeroize as _;

use crate::ed25519::AgencySigningSecretKey;
use crate::envelope::{Envelope, EnvelopeError};
use crate::x25519::AgencyEncryptionPublicKey;

/// [`seal`](crate::seal) with the ephemeral X25519 secret given by the caller instead of drawn
/// from the operating system. **For test vectors only.**
///
/// The envelope's ChaCha20-Poly1305 nonce is fixed (all zero); it is safe only because
/// every envelope has a fresh ephemeral key and so a fresh key. Sealing two plaintexts to
/// the same recipient with the same `ephemeral_secret` reuses key and nonce, which reveals
/// the XOR of the plaintexts and lets anyone forge the Poly1305 tag.
///
/// # Errors
/// As [`seal`](crate::seal), except that it never fails for lack of randomness.
pub fn seal_with_ephemeral(
    sender: &AgencySigningSecretKey,
    recipient: &AgencyEncryptionPublicKey,
    context: &[u8],
    plaintext: &[u8],
    mut ephemeral_secret: [u8; 32],
) -> Result<Envelope, EnvelopeError> {
    let result = crate::envelope::seal_with_ephemeral(
        sender,
        recipient,
        context,
        plaintext,
        &ephemeral_secret,
    );
    ephemeral_secret.zeroize();
    result
}
