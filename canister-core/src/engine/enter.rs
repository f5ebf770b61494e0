//! The first pass: [`Canister::enter`], before the handler.

use super::*;

impl<S: SessionStore, A: Authenticator, L: LogSink> Canister<S, A, L> {
    /// First pass of a request: before the handler.
    ///
    /// Gives the request its id ([`RequestId`]: a new one, or with `request_id_trust` a valid
    /// incoming `request_id_header`), which every log line of the request carries and every
    /// response gets in `request_id_header`, the [`Entry::Respond`] ones included. With the
    /// `tracing` sink it opens the request's span (`Visit::span`, feature `tracing`).
    ///
    /// Logs the request, answers CORS preflights (204; without CORS headers for an origin
    /// that is not allowed) and refuses cross-origin unsafe requests,
    /// with or without the session cookie ([`Entry::Respond`], see `csrf` in
    /// [`Config`]); otherwise reads the session cookie
    /// and runs the authenticator on the `Authorization` header, and hands back the
    /// [`Visit`] ([`Entry::Proceed`]). No store I/O happens here: the session is loaded when
    /// something first asks for it ([`Visit::session`]).
    ///
    /// `peer` is the client's socket address, when the adapter knows it.
    pub async fn enter(&self, parts: &request::Parts, peer: Option<SocketAddr>) -> Entry {
        let inner = &self.inner;
        let settings = &inner.settings;
        let started = inner.clock.now();
        let client = request_log::client_ip(&parts.headers, peer, settings.trust_proxy);
        let secure = is_https(parts);
        let request_id = settings
            .request_id_trust
            .then(|| parts.headers.get(&settings.request_id_header))
            .flatten()
            .and_then(RequestId::from_header)
            .unwrap_or_else(RequestId::generate);
        let cookie = settings.cookie.find(&parts.headers);
        let fields = self.live_fields(parts, client, &cookie, request_id.clone());
        let traces = fields.traces();
        let preflight = match settings.cors.preflight(parts) {
            Preflight::None => None,
            Preflight::Allowed(headers) => Some((responses::preflight(headers), None)),
            // Answered here, not by the router (a 405 in axum): a 204 without CORS headers,
            // which the browser takes as a refusal (cors.rs).
            Preflight::Refused(origin) => Some((
                responses::preflight(Cors::refused_preflight_headers()),
                Some(origin),
            )),
        };
        if let Some((response, refused)) = preflight {
            // Its context gets an allocation of its own, not a whole visit.
            let live = LiveContext::of(Arc::new(fields) as Arc<dyn LiveSource>);
            self.log_request_line(&live, traces, parts, secure);
            if let (Some(origin), true) = (refused, inner.sink.enabled(Level::Warning)) {
                let text = format!("CORS preflight refused: origin {origin} is not allowed");
                inner.sink.log_request(
                    &live,
                    &Event::Message {
                        level: Level::Warning,
                        text: &text,
                    },
                );
            }
            self.log_response(|| live.clone(), response.status(), started);
            return with_request_id(settings, &request_id, response);
        }
        // The visit's one allocation, made now: the lines `enter` writes have its context.
        let engine: Arc<dyn Engine> = Arc::clone(&self.inner) as Arc<dyn Engine>;
        let visit = Arc::new(VisitInner {
            engine,
            client,
            live: fields,
            request_id: request_id.clone(),
            secure,
            origin: parts.headers.get(header::ORIGIN).cloned(),
            started,
            cookie,
            auth: OnceLock::new(),
            state: Default::default(),
            loading: Default::default(),
        });
        let live = visit::live_context(&visit);
        self.log_request_line(&live, traces, parts, secure);
        // The engine's own answers carry the request id too.
        let respond = |response: Response<Bytes>| with_request_id(settings, &request_id, response);

        // Every unsafe request, cookie or not: a cross-site login, a session swap and cached
        // Basic credentials carry no session cookie (DESIGN.md, CSRF).
        if let Err(origin) = settings.csrf.check(parts, host(parts), &settings.cors) {
            inner
                .sink
                .log_request(&live, &Event::CsrfRefused { origin });
            let mut response = responses::csrf_refused();
            settings
                .cors
                .apply(parts.headers.get(header::ORIGIN), &mut response);
            self.log_response(|| live.clone(), response.status(), started);
            return respond(response);
        }

        let (header_user, refusal) = match parts.headers.get(header::AUTHORIZATION) {
            // `auth_jwt_cookie`: a bearer token in a cookie, when there is no header.
            None => match settings
                .config
                .auth
                .jwt
                .cookie
                .as_deref()
                .and_then(|name| cookie::cookie_value(&parts.headers, name))
            {
                None => (None, None),
                Some(token) => {
                    let credentials = Credentials::new("Bearer", token);
                    match inner.auth.authenticate(&credentials).await {
                        AuthOutcome::Authenticated(user) => (Some(user), None),
                        AuthOutcome::Refused(refusal) => (None, Some(refusal)),
                        AuthOutcome::NotMine => (None, None),
                    }
                }
            },
            Some(value) => match Credentials::parse(value) {
                Err(refusal) => (None, Some(refusal)),
                Ok(credentials) => {
                    let check = inner.auth.authenticate(&credentials);
                    // Login throttling: Basic credentials name a user whose password is
                    // about to be checked.
                    let name = inner
                        .throttles()
                        .then(|| crate::auth::basic_username(&credentials))
                        .flatten();
                    let outcome = match name {
                        None => check.await,
                        Some(name) => match inner.throttled(&name, client, &live, check).await {
                            Ok(outcome) => outcome,
                            Err(rejection) => {
                                let mut response = rejection.into_response();
                                settings
                                    .cors
                                    .apply(parts.headers.get(header::ORIGIN), &mut response);
                                self.log_response(|| live.clone(), response.status(), started);
                                return respond(response);
                            }
                        },
                    };
                    match outcome {
                        AuthOutcome::Authenticated(user) => (Some(user), None),
                        AuthOutcome::Refused(refusal) => (None, Some(refusal)),
                        AuthOutcome::NotMine => (None, Some(not_mine(&credentials))),
                    }
                }
            },
        };
        if let Some(user) = &header_user {
            visit.live.set_user(user.name());
            inner
                .sink
                .log_request(&live, &Event::LoggedIn { name: user.name() });
        }
        if let Some(refusal) = &refusal {
            inner.sink.log_request(
                &live,
                &Event::AuthRefused {
                    scheme: refusal.scheme(),
                    reason: refusal.reason(),
                },
            );
        }

        drop(live);
        // Set once, here, before the visit is handed out (never fails), and only when there
        // is something to set: most requests carry no credentials.
        if header_user.is_some() || refusal.is_some() {
            let _ = visit.auth.set((header_user, refusal));
        }
        Entry::Proceed(Visit::from_arc(visit))
    }

    /// Logs the request line (`GET <url>`), at INFO. `traces`: the request has a `tracing`
    /// span, which has the URL already (`uri`): not built twice.
    fn log_request_line(
        &self,
        live: &LiveContext,
        traces: bool,
        parts: &request::Parts,
        secure: bool,
    ) {
        let sink = &self.inner.sink;
        if sink.enabled(Level::Info) {
            let url = if traces {
                String::new()
            } else {
                request_log::request_url(parts, secure)
            };
            sink.log_request(
                live,
                &Event::Request {
                    method: &parts.method,
                    url: &url,
                },
            );
        }
    }

    /// The request's log context's fields: client, request id and, when the sink traces
    /// requests, its `tracing` span (made only when the subscriber wants it).
    fn live_fields(
        &self,
        parts: &request::Parts,
        client: Option<std::net::IpAddr>,
        cookie: &cookie::RequestCookie,
        request_id: RequestId,
    ) -> LiveInner {
        #[cfg(feature = "tracing")]
        if self.inner.sink.traces_requests() {
            let trace_id = parts
                .headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .and_then(crate::log::trace_id_of);
            // The session the cookie names, if it is live (the first well-formed id: the
            // usual case); checked when the session is loaded.
            let tag = match cookie {
                cookie::RequestCookie::Ids { ids, .. } => ids
                    .iter()
                    .next()
                    .map(|id| crate::session::tag_of(&id.key())),
                _ => None,
            };
            let session = tag.as_ref().and_then(|t| std::str::from_utf8(t).ok());
            let span = crate::log::tracing_sink::request_span(
                parts,
                &request_id,
                client,
                session,
                trace_id,
            );
            return LiveInner::with_span(client, Some(request_id), span, tag);
        }
        let _ = (parts, cookie);
        LiveInner::new(client, Some(request_id))
    }
}

/// `response` as the engine's own answer: with the request id header.
fn with_request_id(
    settings: &Settings,
    request_id: &RequestId,
    mut response: Response<Bytes>,
) -> Entry {
    response.headers_mut().insert(
        settings.request_id_header.clone(),
        request_id.to_header_value(),
    );
    Entry::Respond(response)
}

/// The refusal when no authenticator took the request's credentials
/// ([`AuthOutcome::NotMine`]), logged as `Authorization refused (-): <reason>`.
///
/// For the two schemes canister knows, the reason says that the scheme is not configured,
/// which is what a user needs to hear: Basic and Bearer are supported, but nobody set
/// `auth_basic_username` or `auth_jwt_client_id` (or the application's own authenticator
/// does not take them). Other schemes are "unsupported". Only fixed texts: nothing of the
/// header reaches the log.
fn not_mine(credentials: &Credentials<'_>) -> Refusal {
    let reason = if credentials.is_scheme("Basic") {
        "Basic authentication is not configured (no Basic user)"
    } else if credentials.is_scheme("Bearer") {
        "Bearer authentication is not configured (no JWT client id)"
    } else {
        "unsupported authorization scheme"
    };
    Refusal::new("-", reason)
}

/// `X-Forwarded-Proto`, named once: a name given as a `&str` is parsed at each lookup.
static X_FORWARDED_PROTO: header::HeaderName = header::HeaderName::from_static("x-forwarded-proto");

/// Whether the request came over https: the URI's scheme, `X-Forwarded-Proto` or
/// `Forwarded: proto=https`.
fn is_https(parts: &request::Parts) -> bool {
    if parts.uri.scheme_str() == Some("https") {
        return true;
    }
    let headers = &parts.headers;
    if let Some(proto) = headers
        .get(&X_FORWARDED_PROTO)
        .and_then(|v| v.to_str().ok())
    {
        return proto
            .split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    }
    headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| {
            first.split(';').any(|pair| {
                pair.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("proto")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                })
            })
        })
}

pub(super) fn host(parts: &request::Parts) -> Option<&str> {
    parts.uri.authority().map(|a| a.as_str()).or_else(|| {
        parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    })
}
