# Thin wrapper around CMake and the scripts: the README's two commands
# (make demo, make check) and a few helpers.
JOBS ?= $(shell nproc)
BUILD ?= build

.PHONY: all build asan fuzz deps demo check unit it fuzz-run docs docs-check bench-pg bench-mysql bench-kafka bench-latency bench-mongo bench-transforms bench-sql bench-verify bench-snapshot bench-redis bench-unembed bench-cluster clean services-stop interop

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@env -u MAKEFLAGS -u MAKELEVEL cmake --build $(BUILD) -j $(JOBS)

asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_WERROR=ON >/dev/null
	@env -u MAKEFLAGS -u MAKELEVEL cmake --build build-asan -j $(JOBS)

fuzz:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_FUZZ=ON >/dev/null
	@env -u MAKEFLAGS -u MAKELEVEL cmake --build build-fuzz -j $(JOBS)

deps:
	@scripts/deps.sh

demo: deps build
	@scripts/demo.sh

check:
	@scripts/check.sh

docs: build
	@scripts/docs-check.sh --write build/sluice

docs-check: build
	@scripts/docs-check.sh build/sluice

bench-pg: deps build
	@bench/bench_pg.sh

bench-mysql: deps build
	@bench/bench_mysql.sh

bench-kafka: deps build
	@bench/bench_kafka.sh

bench-latency: deps build
	@bench/bench_latency.sh

bench-mongo: deps build
	@bench/bench_mongo.sh

bench-transforms: deps build
	@bench/bench_transforms.sh

bench-sql: deps build
	@bench/bench_sql.sh

bench-verify: deps build
	@bench/bench_verify.sh

bench-snapshot: deps build
	@bench/bench_snapshot.sh

bench-redis: deps build
	@bench/bench_redis.sh

bench-unembed: deps build
	@bench/bench_unembed.sh

bench-cluster: deps build
	@bench/bench_cluster.sh

services-stop:
	@scripts/services.sh stop all

clean:
	rm -rf build build-asan build-fuzz

# The golden tests' events from the real Debezium (Kafka Connect standalone, needs the
# services and Maven Central): writes tests/it/golden*/<script>.debezium.* and prints the
# differences with sluice's expected files. Run by hand, not part of `make check`.
.PHONY: golden-debezium
golden-debezium:
	@scripts/golden-from-debezium.sh

# sluice's MongoDB sink against mongo-kafka 2.0.1 (Kafka Connect standalone, jars from Maven
# Central) on the same topic, and the direct PostgreSQL -> MongoDB connector: every document
# compared field by field, BSON types included. Run by hand, not part of `make check`.
interop: deps build
	@SLUICE_BIN=$${SLUICE_BIN:-build/sluice} scripts/mongo-interop.sh
