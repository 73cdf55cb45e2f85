//! Guides to each module and to the axum integration, the pages of `docs/modules/` rendered as documentation.

pub mod sessions {
    #![doc = include_str!("../../../docs/modules/sessions.md")]
}

pub mod csrf {
    #![doc = include_str!("../../../docs/modules/csrf.md")]
}

pub mod ratelimit {
    #![doc = include_str!("../../../docs/modules/ratelimit.md")]
}

pub mod tokens {
    #![doc = include_str!("../../../docs/modules/tokens.md")]
}

pub mod credentials {
    #![doc = include_str!("../../../docs/modules/credentials.md")]
}

pub mod audit {
    #![doc = include_str!("../../../docs/modules/audit.md")]
}

pub mod oauth {
    #![doc = include_str!("../../../docs/modules/oauth.md")]
}

pub mod resource_server {
    #![doc = include_str!("../../../docs/modules/resource-server.md")]
}

pub mod axum {
    #![doc = include_str!("../../../docs/modules/axum.md")]
}

pub mod axum_ratelimit {
    #![doc = include_str!("../../../docs/modules/axum-ratelimit.md")]
}
