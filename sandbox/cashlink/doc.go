// Package cashlink emulates Cashlink's Registry-as-a-Service API (seed
// 000_8b2c1cad6c1988c7.txt, ../shared/docs/api-contracts.md Part A) over its
// own tables (cl_*) in the sandbox's SQLite file, so state survives restarts
// and a crashed import can be resumed against the same emulator.
//
// Endpoints (paths relative to the mount; the console mounts Handler with
// http.StripPrefix("/sandbox/cashlink", h) and InfoHandler at
// /sandbox/cashlink/_info):
//
//	POST        /api/external/oauth/token                               client credentials (form body)
//	POST        /api/external/v2/documents/                             multipart "file"            documents:write
//	POST        /api/external/v2/investors/                             natural person              investors:write
//	GET         /api/external/v2/investors/{id}/                                                    investors:read
//	POST        /api/external/v2/investors/{id}/identifications/        completes KYC               investors:write
//	GET         /api/external/v2/investors/{id}/wallets/                a bare JSON array           investors:read
//	POST        /api/external/v2/investors/{id}/wallets/eth-generic/    {"address", "receiving_enabled"}
//	POST        /api/external/v2/investors/{id}/wallets/eth-managed/    no body; one per investor
//	GET, POST   /api/external/v2/investments/                           paginated list; import       investments:read/write
//	GET, PATCH  /api/external/v2/investments/{id}/                      PATCH wallet, paid_at, accepted_at
//	POST        /api/external/v2/investments/{id}/credits/              202, DELIVERED after CreditDelay
//	GET, POST   /api/external/v2/redemptions/                           paginated list; FIFO burn    investments:read/write
//	GET         /api/external/v2/redemptions/{id}/
//
// Decisions where the public contract is silent (Part D), each DRF-shaped:
//
//   - Tokens: opaque 40-character random strings; only their SHA-256 is
//     stored. Answer {"access_token", "expires_in", "token_type": "Bearer",
//     "scope"} with Cache-Control: no-store; expires_in is Options.TokenTTL
//     (default 1 h). Credentials in the form body, or HTTP Basic when the
//     body has no client_id. No scope requested = every scope. Errors per
//     RFC 6749 §5.2: 400 invalid_request (no grant_type, not a form),
//     unsupported_grant_type, invalid_scope; 401 invalid_client.
//   - Bearer errors: no or non-Bearer Authorization → 401 {"detail":
//     "Authentication credentials were not provided."}; unknown token → 401
//     {"detail": "Invalid token."}; expired → 401 {"detail": "Token has
//     expired."}; all with WWW-Authenticate: Bearer realm="api" (plus
//     error="invalid_token" and a description for the last two).
//   - Scopes: read routes need "x:read" or "x:write" (write implies read:
//     the guide's full script lists wallets without investors:read and must
//     run green); creating/patching investors and wallets needs
//     investors:write; investments, credits and redemptions
//     investments:write; uploads documents:write. 403 {"detail": "You do not
//     have permission to perform this action."}. Order as in DRF:
//     authentication (401), then the method (405), then the scope (403),
//     then the object (404).
//   - Errors: unknown ids (and ids that are not UUIDs) → 404 {"detail": "Not
//     found."}; unknown paths → the same 404 in JSON; a GET without the
//     trailing slash → 301 to the slash (Django's APPEND_SLASH); wrong method
//     → 405 {"detail": "Method \"X\" not allowed."} with Allow; malformed
//     JSON → 400 {"detail": "JSON parse error - ..."}; a JSON endpoint sent
//     another content type → 415 {"detail": "Unsupported media type \"...\"
//     in request."} (an empty body is an empty object, as in DRF);
//     validation → 400 {"field": ["message"]} with DRF's messages, nested
//     objects as nested errors, list items as a list of error objects;
//     precondition failures → 400 {"non_field_errors": ["..."]}; bodies
//     above 1 MiB (JSON) or 11 MiB (uploads) → 413. Every answer has an
//     X-Request-Id. Times are rendered as DRF does: UTC, "Z", microseconds
//     when not zero; input times follow Django's parse_datetime, naive ones
//     taken as UTC.
//   - Documents: any content is accepted (the guide uploads b'ASD' named
//     .pdf; the console checks PDFs itself); filename, content type (default
//     application/octet-stream), size, SHA-256 and the bytes (at most
//     MaxDocumentSize, 10 MiB) are stored. 201 {"id", "filename",
//     "content_type", "size", "sha256", "created_at"}.
//   - Investors: natural persons only (legal_person → 400). Required:
//     natural_person.forename, .surname, .is_subject_to_us_tax (must be
//     false) and is_beneficiary (write-only, never returned); salutation
//     MR/MS/MX, dates YYYY-MM-DD, citizenship/country ISO alpha-3 upper-case,
//     communication.email, bank_account (IBAN with checksum, BIC, currency
//     EUR), tax_information checked when given. An investor created through
//     the API is KYC pending ("kyc_status": "PENDING": its investments read
//     KYC_PENDING and it cannot get wallets) until an identification is
//     posted, unless Options.IdentifyOnCreate (or the control endpoint's
//     identify_on_create) is set. Seeded investors are KYC-complete.
//   - Wallets: generic needs 0x + 40 hex digits, unique across investors
//     (case-insensitive); managed addresses are generated, one per investor;
//     both need a successful KYC. Wallet object: {"id", "investor_id",
//     "type": "eth-generic" | "eth-managed", "address", "receiving_enabled",
//     "created_at"}. The list is a bare array, oldest first.
//   - Investments: campaign_id (exists, active, natural persons allowed),
//     investor_id, units (DRF IntegerField: "300" and 300.0 accepted; at
//     least 1 and within the campaign's min/max tokens), signed_at (missing
//     → 400: web-based subscription is not enabled), accepted_at and paid_at
//     (optional, null = not set), wallet (optional, the investor's own),
//     signed_documents (non-empty; document_id of this client's documents,
//     category and subject required). Unknown fields are ignored. The
//     object carries money objects {"amount", "decimals", "currency"}:
//     investment_amount = payment_total = units × the campaign's price at
//     signing, disagio 0, remaining_amount = remaining_units × price.
//   - Lifecycle, evaluated on read (deterministic with Options.Now): a
//     status forced by the control endpoint wins; after a credit, PAID until
//     credit time + CreditDelay, then DELIVERED (delivered_at = that time);
//     else KYC_PENDING / KYC_INSUFFICIENT from the investor's KYC; else PAID
//     (accepted_at and paid_at), ACCEPTED (accepted_at), or
//     WAITING_FOR_ACCEPTANCE. PATCH sets wallet, paid_at and accepted_at
//     (the latter standing in for the issuer's acceptance in Studio); the
//     other fields of the object → 400 "cannot be changed"; nothing changes
//     in a final status, and wallet and dates are frozen once credited.
//   - Credits: no body (a body is ignored). Preconditions, in order: not
//     already credited (400 "already being processed" / "already been
//     credited", also for a new key), the investor identified (KYC SUCCESS:
//     "no successful identification"), the investor holding a wallet ("no
//     wallet"), status PAID, a wallet set, the wallet receiving. Each is a
//     400 non_field_errors in words (A.8 implies them; the codes are INF). Answer 202 {"id", "investment_id", "wallet", "units",
//     "status": "processing", "created_at", "delivered_at": null} ("success"
//     at once when the delay is 0).
//   - Redemptions: {"investor_id", "product_id", "wallet_id", "units"}; the
//     balance is the wallet's delivered investments in the product (credits
//     still processing do not count) less what redemptions took; consumed
//     first in, first out by investment creation; insufficient → 400 on
//     units naming the balance. Status "processing" until CreditDelay has
//     passed, then the outcome chosen when it was created: "success"
//     (default), "failed" (units given back) or "unknown" (units stay
//     taken), set by Settings.RedemptionOutcome. The answer lists the
//     "allocations" (investment_id, units). remaining_units counts units
//     taken by redemptions still processing.
//   - Idempotency (every POST above except the token): the key is
//     (client, method, path, X-Idempotency-Key), at most 255 characters.
//     The first answer (status, Content-Type, Location, body) is stored in
//     the same transaction as the work and replayed byte-for-byte with
//     Idempotent-Replayed: true. The fingerprint is the request's content,
//     not its framing: for multipart, each part's name, file name, content
//     type and bytes in order (a client such as Python requests that draws a
//     new boundary per attempt gets the replay); for JSON, the parsed value
//     (spacing and key order do not matter); anything else, the raw bytes.
//     Other content → 422; the same while the first is in flight → 409; 4xx are stored, 5xx are not
//     (the work rolls back and the key is freed); no key → processed
//     without idempotency, as the real API presumably does; 401/403/405/413
//     come before the idempotency layer and are never stored. Keys persist
//     across restarts; in-flight markers left by a crash are cleared at
//     Open. Retention: Options.IdempotencyRetention, default for ever.
//     PATCH is not keyed (setting a value is idempotent by itself).
//   - Lists: DRF PageNumberPagination (page, page_size default 20, max 100,
//     page=last, bad page → 404 "Invalid page."), oldest first, next and
//     previous as absolute URLs with the mount prefix and parameters sorted;
//     filters investor_id, campaign_id, product_id (investments) and
//     investor_id, product_id (redemptions), a non-UUID value → 400.
//   - Seed: two products and three campaigns (EUR, 2 decimals; the first
//     campaign active, 1-100000 units at 100.00; the second inactive; the
//     third 20-2000 units at 500.00), and per SeedPerson a KYC-complete
//     natural person with an identification record, a generic wallet and a
//     delivered holding of SeedHoldingUnits in the first product (so the
//     guide's redemption, made right after its credit, finds a balance). Seeded ids are derived
//     from names and e-mails: stable across databases; a later Open adds
//     only new people. Counts leaves seeded records out.
//
// One client exists (Options.ClientID); records carry its id anyway.
package cashlink
