//! zlib chunking of large cache values (placeholder until implemented).
