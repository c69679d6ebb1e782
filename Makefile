# Build, test, lint and release b2see_exporter.
#
#   make build     the exporter for this machine, as ./b2see_exporter
#   make test      the tests, exactly as the README runs them
#   make lint      gofmt, go vet, staticcheck and promtool's checks of the rules
#   make release   static binaries for every platform below, their archives and
#                  checksums in $(DIST)
#   make docker    the container image, from a static Linux binary (Dockerfile)
#   make clean     remove what the targets above wrote
#
# Every binary is static (CGO_ENABLED=0), built with -trimpath, and stamped
# through prometheus/common/version with the version (the VERSION file), the
# commit, the branch, the build user and the build date, so that --version,
# b2see_exporter_build_info and the landing page name what was built.

GO          ?= go
PROMTOOL    ?= promtool
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo "$$($(GO) env GOPATH)/bin/staticcheck")
DOCKER      ?= docker

NAME     := b2see_exporter
VERSION  := $(shell cat VERSION)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell whoami)@$(shell hostname)
# The build date is the commit's, or SOURCE_DATE_EPOCH's when set, rather than
# the clock's: two builds of one commit then stamp the same date and write
# the same archives, which anyone can check against the published sums.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
BUILD_DATE ?= $(shell date -u -d "@$(SOURCE_DATE_EPOCH)" +%Y%m%d-%H:%M:%S 2>/dev/null || date -u -r "$(SOURCE_DATE_EPOCH)" +%Y%m%d-%H:%M:%S)

# BUILD holds the binaries, one directory per platform, and the container
# image's files; DIST the release archives. Both may be set elsewhere, as the
# tests do.
BUILD ?= .build
DIST  ?= dist

# Platforms are os-arch; armv7 is GOARCH=arm with GOARM=7.
PLATFORMS := linux-amd64 linux-arm64 linux-armv7 darwin-amd64 darwin-arm64 windows-amd64

# The image is built for DOCKER_ARCH (amd64, arm64 or armv7) and tagged
# $(DOCKER_IMAGE):$(VERSION). Its CA certificates are the build machine's.
DOCKER_ARCH  ?= $(shell $(GO) env GOARCH)
DOCKER_IMAGE ?= b2see_exporter
CA_BUNDLE    ?= $(firstword $(wildcard /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem))
# The image's user; the Dockerfile's USER and --chown name the same.
IMAGE_USER := 10133

VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

goos   = $(word 1,$(subst -, ,$(1)))
arch   = $(word 2,$(subst -, ,$(1)))
goarch = $(if $(filter armv7,$(call arch,$(1))),arm,$(call arch,$(1)))
goarm  = $(if $(filter armv7,$(call arch,$(1))),7,)

# What every archive holds beside the binary.
CONTENTS := LICENSE NOTICE README.md CHANGELOG.md $(sort $(wildcard alerts/*.yml)) alerts/RUNBOOK.md $(sort $(wildcard dashboards/*.json))
ARCHIVES := $(foreach p,$(PLATFORMS),$(DIST)/$(NAME)-$(VERSION).$(p).$(if $(filter windows-%,$(p)),zip,tar.gz))

.PHONY: build test lint mixin release docker clean FORCE
# The binaries are built by pattern rules; keep them after the archives are made.
.SECONDARY:

build:
	$(GOBUILD) -o $(NAME) .

test:
	go test ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd alerts && $(PROMTOOL) check rules b2see.rules.yml
	cd alerts && $(PROMTOOL) test rules b2see.rules.test.yml

# The rules file and the dashboards are rendered from the monitoring mixin
# (mixin/); mixin's tests fail when the shipped files differ from a render.
mixin:
	$(GO) run ./mixin/render

release: $(DIST)/sha256sums.txt

# Go's own build cache decides what to rebuild, so the binaries are always
# "remade" (FORCE) and cost only a link when nothing changed.
define crossbuild
GOOS=$(call goos,$*) GOARCH=$(call goarch,$*) GOARM=$(call goarm,$*) $(GOBUILD) -o $@ .
endef

$(BUILD)/%/$(NAME): FORCE
	$(crossbuild)

$(BUILD)/%/$(NAME).exe: FORCE
	$(crossbuild)

$(DIST)/$(NAME)-$(VERSION).%.tar.gz: $(BUILD)/%/$(NAME) $(CONTENTS)
	@mkdir -p $(DIST)
	$(GO) run ./release archive -o $@ -prefix $(NAME)-$(VERSION).$* -mtime $(SOURCE_DATE_EPOCH) -bin $< $(CONTENTS)

$(DIST)/$(NAME)-$(VERSION).%.zip: $(BUILD)/%/$(NAME).exe $(CONTENTS)
	@mkdir -p $(DIST)
	$(GO) run ./release archive -o $@ -prefix $(NAME)-$(VERSION).$* -mtime $(SOURCE_DATE_EPOCH) -bin $< $(CONTENTS)

$(DIST)/sha256sums.txt: $(ARCHIVES)
	$(GO) run ./release sums -o $@ $^

docker: $(BUILD)/linux-$(DOCKER_ARCH)/$(NAME) $(BUILD)/rootfs
	$(DOCKER) build -f $(CURDIR)/Dockerfile \
		--platform linux/$(call goarch,linux-$(DOCKER_ARCH))$(if $(call goarm,linux-$(DOCKER_ARCH)),/v7) \
		--build-arg ARCH=$(DOCKER_ARCH) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
		-t $(DOCKER_IMAGE):$(VERSION) $(BUILD)

# The image's files besides the binary, staged anew each time.
$(BUILD)/rootfs: FORCE
	@test -n "$(CA_BUNDLE)" || { echo "no CA bundle found: install ca-certificates or set CA_BUNDLE"; exit 1; }
	rm -rf $@ $(BUILD)/volume
	mkdir -p $@/etc/ssl/certs $(BUILD)/volume
	cp $(CA_BUNDLE) $@/etc/ssl/certs/ca-certificates.crt
	cp LICENSE NOTICE $@/
	printf 'root:x:0:0:root:/:/sbin/nologin\n$(NAME):x:$(IMAGE_USER):$(IMAGE_USER):$(NAME):/data:/sbin/nologin\n' > $@/etc/passwd
	printf 'root:x:0:\n$(NAME):x:$(IMAGE_USER):\n' > $@/etc/group

clean:
	rm -rf $(BUILD) $(DIST) $(NAME)

FORCE:
