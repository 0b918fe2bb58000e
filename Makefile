# stakha-lever: one non-recursive Makefile.
#
#   make            build the service (build/stakha-lever) and the Lever simulator
#   make run        the service on its embedded defaults (own PostgreSQL, Lever simulator)
#   make test       the whole suite (unit + integration) against a throwaway PostgreSQL
#   make bench      the benchmarks of tests/bench, one BENCH line per figure
#   make SANITIZER=address,undefined test     (or SANITIZER=thread)
#
# Missing Debian packages are installed with apt when run as root (see `deps`).

CC        ?= cc
SANITIZER ?=
BUILD     ?= build$(if $(SANITIZER),-$(subst $(comma),-,$(SANITIZER)))
comma     := ,

PKGS      := libmicrohttpd libcurl jansson libpq openssl
APT_PKGS  := build-essential pkg-config libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev \
             libpq-dev libssl-dev postgresql perl curl wrk clang-format
VERSION   := 0.1.0

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow \
               -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
               -DSL_VERSION='"$(VERSION)"' -Iserver -Ihandlers -Itests/lib
ifneq ($(SANITIZER),)
CFLAGS_BASE += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -O1
LDFLAGS     += -fsanitize=$(SANITIZER)
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS    += $(CFLAGS_BASE) $(PKG_CFLAGS)
LDLIBS    += $(PKG_LIBS) -lpthread -lm

# The engine, the handlers, and the migrations compiled into the binary.
SERVER_SRCS := server/util.c server/log.c server/config.c server/crypto.c \
               server/webhook_sig.c server/http.c server/db.c server/migrate.c \
               server/embedded_pg.c server/metrics.c server/event.c server/ingest.c \
               server/lever.c server/tokens.c server/candidate.c server/queue.c \
               server/ratelimit.c server/workers.c
HANDLER_SRCS := handlers/routes.c handlers/common.c handlers/ops.c handlers/webhooks.c \
                handlers/oauth.c handlers/connections.c handlers/postings.c handlers/syncs.c \
                handlers/deliveries.c
MAIN_SRC    := server/main.c
GEN_MIGRATIONS := $(BUILD)/gen/migrations_embedded.c
MIGRATIONS  := $(sort $(wildcard migrations/*.sql))

# The test harness and the fake Lever (also the standalone Lever simulator).
TESTLIB_SRCS := tests/lib/harness.c tests/lib/fake_lever.c tests/lib/lever_fixture.c \
                tests/lib/delivery_fixture.c
SIM_SRC      := tests/lib/lever_sim.c

UNIT_TESTS  := test_config test_routes test_migrate test_util test_crypto test_webhook_sig \
               test_event test_lever test_candidate test_queue test_ratelimit
INTEG_TESTS := test_ops test_db_outage test_migrate_cli test_embedded_pg test_make_run \
               test_compose test_fake_lever test_webhooks test_tokens test_oauth test_syncs \
               test_delivery test_delivery_faults test_delivery_crash test_delivery_scale \
               test_delivery_tokens test_delivery_shutdown test_delivery_lease

LIB_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(SERVER_SRCS) $(HANDLER_SRCS)) \
              $(BUILD)/gen/migrations_embedded.o
TESTLIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(TESTLIB_SRCS))
BIN        := $(BUILD)/stakha-lever
SIM        := $(BUILD)/lever-sim
UNIT_BINS  := $(addprefix $(BUILD)/tests/unit/,$(UNIT_TESTS))
INTEG_BINS := $(addprefix $(BUILD)/tests/integration/,$(INTEG_TESTS))

.PHONY: all deps run test unit integration bench clean format format-check fuzz
.DEFAULT_GOAL := all

all: deps $(BIN) $(SIM)

# Install what is missing (as root), or say what to run.
deps:
	@missing=""; for p in $(APT_PKGS); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing:$$missing"; \
	        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	            >/tmp/stakha-lever-apt.log 2>&1 || { cat /tmp/stakha-lever-apt.log; exit 1; }; \
	    else echo "missing packages; run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi

$(BUILD)/%.o: %.c $(wildcard server/*.h handlers/*.h tests/lib/*.h) | deps
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(GEN_MIGRATIONS): $(MIGRATIONS) server/embed_migrations.sh
	@mkdir -p $(dir $@)
	sh server/embed_migrations.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/migrations_embedded.o: $(GEN_MIGRATIONS)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libsl.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(BUILD)/$(MAIN_SRC:.c=.o) $(BUILD)/libsl.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(SIM): $(BUILD)/$(SIM_SRC:.c=.o) $(BUILD)/tests/lib/fake_lever.o $(BUILD)/libsl.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TESTLIB_OBJS) $(BUILD)/libsl.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(TESTLIB_OBJS) $(BUILD)/libsl.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDARY:

# `make run`: the service on embedded defaults; without Lever credentials the
# bundled Lever simulator is started and the service pointed at it.
run: all
	@sh tests/lib/run.sh $(BIN) $(SIM)

test: all $(UNIT_BINS) $(INTEG_BINS)
	@sh tests/lib/test.sh $(BIN) $(UNIT_BINS) $(INTEG_BINS)

unit: all $(UNIT_BINS)
	@prove --exec '' $(UNIT_BINS)

BENCH_PROGS := $(BUILD)/tests/bench/backfill $(BUILD)/tests/bench/ingest_load
BENCH_PROGS += $(BUILD)/tests/bench/delivery
$(BUILD)/tests/bench/%: $(BUILD)/tests/bench/%.o $(TESTLIB_OBJS) $(BUILD)/libsl.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# `make bench BENCH=regex` runs only the matching benchmarks.
bench: all $(BENCH_PROGS)
	@sh tests/bench/run.sh $(BIN) "$(BENCH)"

# `make fuzz FUZZ_SECONDS=60`: libFuzzer (clang) under ASan+UBSan on the
# webhook signature header parser and the event parser together.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := tests/fuzz/fuzz_webhook.c server/webhook_sig.c server/crypto.c server/event.c \
             server/util.c
fuzz: deps
	@dpkg -s clang libclang-rt-14-dev >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	    apt-get update -qq && apt-get install -y -qq clang libclang-rt-14-dev >/dev/null; }
	@mkdir -p build/fuzz build/fuzz/corpus && cp tests/fuzz/corpus/* build/fuzz/corpus/
	clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Iserver $(FUZZ_SRCS) \
	    $$(pkg-config --cflags --libs jansson openssl) -o build/fuzz/fuzz_webhook
	build/fuzz/fuzz_webhook -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -print_final_stats=1 build/fuzz/corpus

clean:
	rm -rf build build-*

FORMAT_FILES = $(wildcard server/*.c server/*.h handlers/*.c handlers/*.h tests/*/*.c tests/*/*.h)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)
