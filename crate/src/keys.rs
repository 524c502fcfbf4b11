//! Cache-key normalisation, SHA-256 and HMAC (placeholder until implemented).
