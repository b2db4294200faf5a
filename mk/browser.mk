# The browser client's test needs a real Chromium (included by the top-level Makefile).
#
#   make chromium   Debian's chromium package (apt-get, once); Playwright drives it at
#                   /usr/bin/chromium, so no browser is ever downloaded by Playwright itself

# (cluster.mk sets the same; ?= so either fragment also works alone)
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || ! command -v sudo >/dev/null || echo sudo)

.PHONY: chromium

TEST_DEPS += chromium

chromium: ## Debian's chromium for the browser test (apt-get, once)
	@[ -x /usr/bin/chromium ] || { \
	  echo ">> installing chromium with apt-get"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
	    --no-install-recommends chromium >/dev/null; }
	@/usr/bin/chromium --version
