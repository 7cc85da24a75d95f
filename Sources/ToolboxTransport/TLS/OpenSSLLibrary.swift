import CToolboxOpenSSL

/// OpenSSL's process-wide initialisation, done once, before the first OpenSSL call of this package.
///
/// ```swift
/// OpenSSLLibrary.ensureInitialized()
/// let context = SSL_CTX_new(TLS_client_method())
/// ```
///
/// Initialised implicitly, OpenSSL registers `OPENSSL_cleanup` with `atexit`, and that frees OpenSSL's global locks
/// and tables while the process exits. This package frees OpenSSL objects on Dispatch threads. For example, a
/// pool's asynchronous shutdown frees its connector's `SSL_CTX` when the cancelled timer lets go of the engine, and
/// a connection frees its `SSL` when it goes away. Such a free can still be running when the main thread returns
/// from `main` or calls `exit`. It then locked an OpenSSL lock that had just been freed and crashed.
/// `toolbox blob list` crashed this way in `SSL_CTX_free` → `CRYPTO_THREAD_unlock`, which ThreadSanitizer reported
/// as exit status 66 and a plain build as a SIGSEGV.
///
/// `OPENSSL_INIT_NO_ATEXIT` keeps the global state until the kernel reclaims the process. OpenSSL documents this
/// option for code that cannot make sure OpenSSL is idle at exit (its dynamic engines use it for the same reason).
/// The other options are those of an implicit `OPENSSL_init_ssl`. The first initialisation in a process decides
/// whether the exit handler is registered, so every entry point that reaches OpenSSL without a `TLSContext` calls
/// `ensureInitialized()` first: `TLSContext`, `AuthCrypto`, the certificate and assertion loaders, and
/// `StreamingDigest`. An application that initialised OpenSSL itself before that keeps its own choice.
package enum OpenSSLLibrary {
    /// Whether `OPENSSL_init_ssl` succeeded. When it fails, the OpenSSL calls that follow fail too and report it
    /// through their own errors (a `TLSContext` throws `tlsConfigurationInvalid`).
    private static let initialized: Bool = {
        let options = UInt64(OPENSSL_INIT_NO_ATEXIT) | UInt64(OPENSSL_INIT_LOAD_SSL_STRINGS)
            | UInt64(OPENSSL_INIT_LOAD_CRYPTO_STRINGS)
        return OPENSSL_init_ssl(options, nil) == 1
    }()

    /// Initialises OpenSSL without its exit handler, once per process; later calls cost one load and one branch.
    @inline(__always)
    package static func ensureInitialized() {
        _ = initialized
    }
}
