//! The web side: the endpoints ([`handler`]), the landing page ([`landing`]), the HTTP/1.1 server loop ([`serve`]), the
//! exporter-toolkit web configuration file ([`webconfig`]) and basic auth ([`auth`]).

pub mod auth;
pub mod handler;
pub mod landing;
pub mod serve;
pub mod webconfig;

pub use handler::Web;
