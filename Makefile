# Issuer Console. `make help` lists the targets.
GO      ?= go
BIN     := bin/web
DATA    ?= ./data
PKGS    := ./...

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

generate: ## regenerate templ code (the CLI version is pinned in go.mod)
	$(GO) tool templ generate

check-generated: ## fail when committed *_templ.go files are stale
	./scripts/check-generated.sh

fmt: ## format Go and templ sources
	$(GO) tool templ fmt .
	gofmt -w $$(find . -name '*.go' -not -path './.git/*')

lint: ## every static check: gofmt, templ fmt, go mod tidy, generated code, go vet, staticcheck, deadcode (rewrites nothing)
	GO=$(GO) ./scripts/lint.sh

build: ## build the single binary into bin/web
	CGO_ENABLED=1 $(GO) build -trimpath -o $(BIN) ./cmd/web

run: build ## start the console in sandbox mode on http://127.0.0.1:8080
	./$(BIN) -data $(DATA) -sandbox=true

test: lint ## the whole test suite (race detector on; browser tests when Chromium is installed)
	CGO_ENABLED=1 $(GO) test -race -count=1 $(PKGS)

e2e: ## only the browser tests, with screenshots in e2e/screenshots/
	REQUIRE_EXTERNAL_TOOLS=1 $(GO) test -count=1 -v ./e2e/

difftest: ## Issuance emulator vs the real Django/DRF/django-filter stack: 2000 random queries (Debian python3-django* needed); merged keys vs one all-seeing key: 300
	DIFF_QUERIES=2000 REQUIRE_EXTERNAL_TOOLS=1 $(GO) test ./sandbox/issuance/ -run 'TestDifferentialDjango|TestPythonParsers' -count=1 -v
	MERGE_QUERIES=300 $(GO) test ./services/issuance/ -run TestMergedKeysMatchAllSeeingKey -count=1 -v

bench: ## benchmarks (see README: figures are medians against an in-run baseline)
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $(PKGS)

clean: ## remove build output and screenshots (not the data folder)
	rm -rf bin e2e/screenshots

.PHONY: help generate check-generated fmt lint build run test e2e difftest bench clean
