// Package issuance emulates the Issuance issuer API (seed
// 002_694c4847ed6e318c.txt) over its own tables (iss_*) in the sandbox's
// SQLite file, with the query semantics of the stack the API runs on:
// Django 3.2, Django REST Framework 3.14 and django-filter 23.1, on
// PostgreSQL (../shared/docs/api-contracts.md Part C, drf-probe-transcript.txt,
// sandbox-fixture.md).
//
// Endpoints (paths relative to the mount point):
//
//	GET              /api/investments/            list, the seed's full filter set, search, ordering, pages
//	GET              /api/investments/{id}/       one investment
//	GET              /api/investments/statuses/   {"success", "message", "data": {"statuses": [{value, label}]}}
//	GET              /api/investments/summary/    {"total_amount_committed": {"amount", "investor_count"}}
//	GET              /api/investments/values/     ?field=a,b → {"success", "message", "data": {"a": [...]}}
//	GET              /api/offerings/, /api/offerings/{id}/
//	GET              /api/investors/, /api/investors/{id}/, /api/investors/values/
//	GET, POST        /api/users/
//	GET, PATCH       /api/users/{id}/
//
// How faithful it is: every filter parameter is cleaned as the reference's
// form field does it (Python's int(), Decimal(), strptime and Django's
// parse_datetime are reproduced, including Unicode digits, underscores,
// Python's whitespace and django-filter's MaxValueValidator(1e50)); every
// bad parameter is reported at once in a 400; django-filter's broken
// boolean __in filters answer 500 (Options.BrokenBoolIn); search splits
// terms as DRF 3.14 does; next/previous links are rebuilt as DRF's
// replace_query_param does. TestTranscript replays the probe transcript;
// TestDifferentialDjango compares random queries with the real stack
// (djangoref/), TestPythonParsers the parsers with the real ones.
//
// Fixed server settings (sandbox-fixture.md): time zone UTC; PostgreSQL
// string and NULL semantics (case-sensitive __contains/__startswith,
// icontains comparing per-character upper-case forms, code-point string
// order, NULLs largest); page size 20, max 100; investments search
// reference_id, offering name, user e-mail, first and last name, order by
// id, amount, quantity, shares_amount, status, created_at, updated_at,
// processed_at, offering, reference_id, default -created_at,-id; offerings
// search name, slug, order by id, name, created_at, opened_at, status,
// type, default -created_at,-id.
//
// Decisions where the contracts are silent:
//
//   - Auth. Api-Key endpoints take "Authorization: Api-Key <key>" (keyword
//     case-insensitive). The endpoints the seed documents with a Firebase ID
//     token take "Authorization: Bearer <token>". Missing or wrong
//     credentials: 401 {"detail": "Authentication credentials were not
//     provided."} with WWW-Authenticate: Bearer realm="api" (DRF's
//     NotAuthenticated: HasAPIKey is a permission, so a wrong key is "not
//     authenticated"); a bad Bearer token: 401 {"detail": "Invalid
//     token."}; a valid token on an Api-Key endpoint: 403. Authentication
//     comes before the method check, as in DRF. The seed hands an issuer
//     "their Offering's API key": OfferingAPIKey(id) ("sandbox-offering-
//     <id>-key", listed by /sandbox/issuance/_info) sees its offering and
//     its investments (lists, details, values, summary); filters still
//     validate against every record, so a filter on another offering is
//     an empty 200, not a 400. Investors and users take the Firebase ID
//     token, a user's credential, so no offering key reaches them.
//     DefaultAPIKey sees every offering. Bearer tokens: the fixed
//     DefaultFirebaseToken, or an ID token of the Firebase emulator until
//     it expires (-sandbox-token-ttl): then 401 {"detail": "Token has
//     expired."}.
//   - /summary/: auth optional; the list's filters and search plus "slug";
//     "committed" means the investor has committed money that is
//     expected, held or invested: statuses not_received, received,
//     invested, approved, accepted, accepted_escrow_closed (not started,
//     payment_failed, cancelled, refunded, not_approved). "amount" (a JSON
//     number) only for callers with a valid key or token; anonymous
//     callers get {"investor_count"} alone.
//   - /values/: fields status, payment_method, requested_payment_method,
//     offering, offering__name, offering__slug, investor__type,
//     investor__entity__kyc_status (investors: type, entity__kyc_status);
//     distinct values ascending, over the list's filters; a missing or
//     other field is a 400 {"success": false, "message": "...", "data": {}}.
//   - Filters run on detail views too (DRF's get_object calls
//     filter_queryset): /api/investments/1/?status=started is a 404 when
//     investment 1 is not started, ?status=bogus a 400.
//   - Ties: PostgreSQL leaves the order of equal keys undefined; the
//     emulator orders ties by id in the direction of the last term.
//   - Users: POST {email, password} → 201 {id, email}; PATCH email and/or
//     password → 200; DRF's messages (required, blank, null, not a string,
//     255 characters, Django's EmailValidator without its IDNA retry,
//     "user with this email already exists."); passwords are stored as
//     bcrypt hashes at the minimum cost (they authenticate nothing).
//     thirdpartyissueruser__email filters on the user's own e-mail. Users
//     search e-mail and names, order by id or email, default id.
//   - Investors: {id, type, user, email, first_name, last_name, entity:
//     {id, email, kyc_status} | null} (the seed shows four schemas
//     without fields); search user e-mail and names; order by id or type.
//   - investor_individual_name is the user's first and last name joined by
//     a space ("" without a user).
//   - Unknown paths: Django's HTML 404; a path without its trailing slash:
//     301 to the slash (APPEND_SLASH); ?format= other than json: 404;
//     an Accept header without JSON: 406; more than 1000 query fields:
//     Django's HTML 400.
//   - With BrokenBoolIn off, a boolean __in filter keeps the recognised
//     items (true/1/false/0) and ignores the rest.
//   - Values Django cannot compare on SQLite (integers beyond int64,
//     date-times that leave years 1-9999 in UTC) follow PostgreSQL: no
//     match, never an error.
//
// Performance: the investments table carries the indexes the typical
// console queries need (see schema.sql and TestTypicalQueriesUseIndexes);
// counts, summaries and value lists are cached until a user write (the
// investments themselves never change after a load); pages past the middle
// are read from the end in reverse order, and a page's ids are selected
// before its rows (often from an index alone); the investments' search
// fields are denormalised into one upper-cased column (search_u), rebuilt
// when a user's e-mail changes. A search term of three or more characters
// is narrowed by a trigram index kept in Go-built posting lists
// (searchindex.go; SQLite's FTS5 would need a build tag) and becomes the
// exact set of matching references, offerings and investors; shorter terms
// scan search_u. The investor's type is copied onto each investment
// (investor_type) so investor__type + status is one index range.
package issuance
