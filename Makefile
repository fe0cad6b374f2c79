# Thin wrapper over scripts/services.sh; all state lives in .data/.
# Ports can be overridden: make run PORT=9090 REDIS_PORT=6392 MYSQL_PORT=3392
# make run TOPOLOGY=cluster: the scaled-out stack (scripts/lib/topology.sh), ports from
# TOPOLOGY_REDIS_PORTS, TOPOLOGY_MYSQL_PORTS and TOPOLOGY_SINK_PORTS (defaults in scripts/services.sh).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

REDIS_PORT ?= 6391
MYSQL_PORT ?= 3391
PORT ?= 8080
CLUSTER_PORTS ?= 7101 7102 7103
TOPOLOGY ?=
export REDIS_PORT MYSQL_PORT PORT CLUSTER_PORTS
# make test-cluster's topology (scripts/lib/topology.sh): 3 masters + 3 replicas, a second MariaDB.
TEST_TOPOLOGY_REDIS_PORTS ?= 7311 7312 7313 7314 7315 7316
TEST_TOPOLOGY_MYSQL_PORTS ?= 3395
# make drill runs its own Redis and MariaDB (it kills them): other ports, data in .data/drill.
DRILL_REDIS_PORT ?= 6392
DRILL_MYSQL_PORT ?= 3392
DRILL_APPENDFSYNC ?= everysec
# make drill TOPOLOGY=cluster: 3 masters + 3 replicas, the node the reshard adds, the server of shard db 1.
DRILL_TOPOLOGY_REDIS_PORTS ?= 7501 7502 7503 7504 7505 7506
DRILL_TOPOLOGY_SPARE_PORT ?= 7507
DRILL_TOPOLOGY_MYSQL_PORT ?= 3394
# make capacity TOPOLOGY=cluster: its Redis Clusters of 1, 2, 3 masters side by side (then 3 + 3 replicas).
CAPACITY_CLUSTER_PORTS ?= 7601 7602 7603 7604 7605 7606

SERVICES := bash scripts/services.sh
# A recipe's first step: topo_env holds the TOPOLOGY=cluster stack's storage settings, or nothing.
topology_env = case '$(TOPOLOGY)' in cluster) topo_env=$$($(SERVICES) topology-env);; '') topo_env="";; \
	*) echo "error: TOPOLOGY must be cluster or unset, got '$(TOPOLOGY)'" >&2; exit 2;; esac
LOG_DIR := .data/log

comma := ,
space := $(subst ,, )
LOCAL_REDIS_URL = redis://127.0.0.1:$(REDIS_PORT)
LOCAL_MYSQL_URL = mysql://root@127.0.0.1:$(MYSQL_PORT)
CLUSTER_NODES = $(subst $(space),$(comma),$(addprefix 127.0.0.1:,$(strip $(CLUSTER_PORTS))))

# A system test file with this line may run beside another (make test runs those two at a time).
SHARED_MARK = // make test: may run beside another test file (it asserts no timing, CPU or memory figure).
TEST_ENV = APP_ENV=test REDIS_URL=$(LOCAL_REDIS_URL) MYSQL_URL=$(LOCAL_MYSQL_URL) \
	TEST_REDIS_CLUSTER_NODES=$(CLUSTER_NODES)
LOCAL_ENV = APP_ENV=local HOST=127.0.0.1 PORT=$(PORT) REDIS_URL=$(LOCAL_REDIS_URL) \
	MYSQL_URL=$(LOCAL_MYSQL_URL)

.PHONY: help deps services run stop status test test-cluster test-unit typecheck bench drill rebuild logs clean

help:
	@echo "make run        deps, redis, mariadb, then gateway + sink (http://127.0.0.1:$(PORT))"
	@echo "make run TOPOLOGY=cluster   Redis Cluster (3 masters + 3 replicas, AOF), 2 MariaDB servers, gateway, 2 sinks; prints the topology"
	@echo "                (ports: TOPOLOGY_REDIS_PORTS='7201 ... 7206' TOPOLOGY_MYSQL_PORTS=3393 TOPOLOGY_SINK_PORTS='9464 9465')"
	@echo "make stop       stop app, redis, mariadb, the test cluster and the TOPOLOGY=cluster stack (by pid)"
	@echo "make services   deps, redis, mariadb (no app)"
	@echo "make test       services + redis cluster + chromium, typecheck, the suite (unit, integration and marked system files two at a time, then the rest one at a time)"
	@echo "make test-cluster   a topology of its own (Redis Cluster 3+3, 2 MariaDB servers), then test/cluster one file at a time"
	@echo "make test-unit  test/unit only: no servers, seconds"
	@echo "make bench      services, then bench/run.ts (TOPOLOGY=cluster ARGS='--quick': its claim load on make run TOPOLOGY=cluster's servers)"
	@echo "make drill      fault drills on a stack of their own (DRILL_APPENDFSYNC=always; docs/reliability.md)"
	@echo "make drill TOPOLOGY=cluster   the scaled-out drills: master failover (with and without REDIS_WAIT_REPLICAS), sink kill, MariaDB server stop, live reshard"
	@echo "make rebuild ARGS='--all' | ARGS='--template ID'   restore Redis from MySQL (docs/durability.md)"
	@echo "make loadtest SCENARIO=hot ARGS='--duration 10'   load test the gateway make run started (docs/loadtest.md)"
	@echo "                TOPOLOGY=cluster: the one make run TOPOLOGY=cluster started, with claims per master and rows per server"
	@echo "make capacity   calibrate this box, then plan 120,000 claims/s (capacity/)"
	@echo "                TOPOLOGY=cluster: also Redis Clusters of 1-3 masters of its own (CAPACITY_CLUSTER_PORTS); the plan scales out"
	@echo "make deps       node modules and system packages only (chromium: make test installs it)"
	@echo "make typecheck | logs [TOPOLOGY=cluster] | status | clean (stop + rm -rf .data)"

deps:
	@$(SERVICES) deps

services:
	@$(SERVICES) up

run:
ifeq ($(TOPOLOGY),cluster)
	@$(SERVICES) topology-up
else ifeq ($(TOPOLOGY),)
	@$(SERVICES) up
	@$(SERVICES) app-up
else
	@echo "error: TOPOLOGY must be cluster or unset, got '$(TOPOLOGY)'" >&2; exit 2
endif

stop:
	@$(SERVICES) down

status:
	@$(SERVICES) status

typecheck:
	@$(SERVICES) deps
	@echo "typecheck: tsc --noEmit"
	@npx tsc --noEmit

test:
	@$(SERVICES) up
	@$(SERVICES) browser-deps
	@$(SERVICES) cluster-up
	@echo "typecheck: tsc --noEmit"
	@npx tsc --noEmit
	@shared=$$(grep -lxF '$(SHARED_MARK)' $$(find test/system -name '*.test.ts') | sort || true); \
	light=$$( { find test/unit test/integration -name '*.test.ts'; echo "$$shared"; } | sort || true); \
	system=$$(find test/system -name '*.test.ts' | sort | grep -vxF "$$shared"); \
	if [[ -z "$$light" || -z "$$system" ]]; then echo "error: no test files (test/**/*.test.ts)" >&2; exit 1; fi; \
	export $(TEST_ENV); \
	echo "test: $$(wc -l <<<"$$light") unit, integration and marked system files, two at a time"; \
	light_rc=0; node --import tsx --test --test-concurrency=2 --test-timeout=120000 $$light || light_rc=$$?; \
	echo "test: $$(wc -l <<<"$$system") system files, one at a time (they load the machine, kill processes, time things)"; \
	system_rc=0; node --import tsx --test --test-concurrency=1 --test-timeout=120000 $$system || system_rc=$$?; \
	[[ $$light_rc == 0 && $$system_rc == 0 ]] || { echo "test: FAILED (two at a time: exit $$light_rc, one at a time: exit $$system_rc)" >&2; exit 1; }

# The scaled-out topology's tests (issue 15): failover, replicas, several servers. They kill and
# pause its nodes, so they run one file at a time on a topology of their own (TOPOLOGY_NAME).
TEST_TOPOLOGY_NODES = $(subst $(space),$(comma),$(addprefix 127.0.0.1:,$(strip $(TEST_TOPOLOGY_REDIS_PORTS))))
TEST_TOPOLOGY_URLS = $(subst $(space),$(comma),$(addprefix mysql://root@127.0.0.1:,$(MYSQL_PORT) $(strip $(TEST_TOPOLOGY_MYSQL_PORTS))))
test-cluster:
	@$(SERVICES) up
	@TOPOLOGY_NAME=test-topology TOPOLOGY_REDIS_PORTS='$(TEST_TOPOLOGY_REDIS_PORTS)' \
		TOPOLOGY_MYSQL_PORTS='$(TEST_TOPOLOGY_MYSQL_PORTS)' $(SERVICES) topology-storage-up
	@files=$$(find test/cluster -name '*.test.ts' | sort); \
	if [[ -z "$$files" ]]; then echo "error: no test files (test/cluster/*.test.ts)" >&2; exit 1; fi; \
	export $(TEST_ENV) TEST_TOPOLOGY_REDIS_NODES=$(TEST_TOPOLOGY_NODES) TEST_TOPOLOGY_MYSQL_URLS=$(TEST_TOPOLOGY_URLS); \
	echo "test-cluster: $$(wc -w <<<"$$files") files, one at a time"; \
	node --import tsx --test --test-concurrency=1 --test-timeout=180000 $$files

# No servers: the pure layer of the suite, for a quick loop while editing.
test-unit:
	@$(SERVICES) deps
	@node --import tsx --test $$(find test/unit -name '*.test.ts' | sort)

# With TOPOLOGY=cluster: the claim load on make run TOPOLOGY=cluster's servers (bench/topology-bench.ts),
# then REDIS_WAIT_REPLICAS 0 against 1 on them (bench/wait-bench.ts).
bench:
ifeq ($(TOPOLOGY),cluster)
	@$(call topology_env); export $(LOCAL_ENV) $$topo_env; node --import tsx bench/run.ts --only=topology,wait $(ARGS)
else
	@$(call topology_env)
	@$(SERVICES) up
	@export $(LOCAL_ENV); node --import tsx bench/run.ts
endif

# Not part of make test: it kills and restarts servers and takes about a minute.
# TOPOLOGY=cluster: the scaled-out drills on a cluster stack of their own (drill/cluster-services.sh
# ports: DRILL_TOPOLOGY_*), a few minutes.
drill:
	@$(SERVICES) deps
ifeq ($(TOPOLOGY),cluster)
	@node --import tsx drill/main.ts --topology cluster --mysql-port $(DRILL_MYSQL_PORT) \
		--cluster-ports $(subst $(space),$(comma),$(strip $(DRILL_TOPOLOGY_REDIS_PORTS))) \
		--spare-port $(DRILL_TOPOLOGY_SPARE_PORT) --mysql2-port $(DRILL_TOPOLOGY_MYSQL_PORT) $(ARGS)
else ifeq ($(TOPOLOGY),)
	@node --import tsx drill/main.ts --redis-port $(DRILL_REDIS_PORT) --mysql-port $(DRILL_MYSQL_PORT) \
		--appendfsync $(DRILL_APPENDFSYNC) $(ARGS)
else
	@echo "error: TOPOLOGY must be cluster or unset, got '$(TOPOLOGY)'" >&2; exit 2
endif

rebuild:
	@export $(LOCAL_ENV); node --import tsx cli/rebuild.ts $(ARGS)

# capacity/ is also a directory: without .PHONY make would call the target up to date.
.PHONY: capacity
capacity:
	@case '$(TOPOLOGY)' in cluster|'') ;; *) echo "error: TOPOLOGY must be cluster or unset, got '$(TOPOLOGY)'" >&2; exit 2;; esac
	@$(SERVICES) up
	@export $(LOCAL_ENV); node --import tsx capacity/main.ts calibrate \
		$(if $(filter cluster,$(TOPOLOGY)),--topology cluster --cluster-ports $(subst $(space),$(comma),$(strip $(CAPACITY_CLUSTER_PORTS)))) && \
		node --import tsx capacity/main.ts plan --qps 120000 --calibrated

# The JSON log lines made readable (pino-pretty); the files themselves stay JSON, for machines.
logs:
	@mkdir -p $(LOG_DIR)
	tail -q -n 100 -F $(if $(TOPOLOGY),$(LOG_DIR)/topology-gateway.log $(wildcard $(LOG_DIR)/topology-sink-*.log),$(LOG_DIR)/gateway.log $(LOG_DIR)/sink.log) | node_modules/.bin/pino-pretty \
		--ignore role,hostname --messageFormat '{role} {msg}' --translateTime 'SYS:HH:MM:ss.l'

clean: stop
	rm -rf .data

# Load test against the gateway `make run` started: make loadtest SCENARIO=hot ARGS="--duration 10"
# With TOPOLOGY=cluster, against `make run TOPOLOGY=cluster`'s, reading its storage as its gateway
# does (scripts/services.sh topology-env: the cluster's nodes, both MariaDB servers, DB_PREFIX).
.PHONY: loadtest
SCENARIO ?= hot
loadtest:
	@$(call topology_env); export $(LOCAL_ENV) $$topo_env; \
		node --import tsx loadtest/main.ts $(SCENARIO) --url http://127.0.0.1:$(PORT) $(or $(ARGS),--duration 10)
