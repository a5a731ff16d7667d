//! The one place that reads operating-system randomness.

use zeroize::Zeroizing;

use crate::error::CryptoError;

/// 32 bytes from the operating system's random number generator (`getrandom`).
pub(crate) fn random_32() -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| CryptoError::Randomness)?;
    Ok(bytes)
}

/// As [`random_32`], for key generation, whose API is infallible.
///
/// # Panics
/// If the operating system's random number generator fails. On every supported platform
/// that means the system cannot run any cryptography at all; continuing with weak keys would
/// be worse than stopping.
pub(crate) fn random_seed() -> Zeroizing<[u8; 32]> {
    match random_32() {
        Ok(seed) => seed,
        Err(error) => panic!("{error}"),
    }
}
