# Test-bed targets, included by the top-level Makefile (`include hack/testbed/testbed.mk`).
# Every target runs as root on the machine itself; see hack/testbed/README.md.

TESTBED_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
# NODES=1: one control-plane node (node.sh). NODES=3: three behind HAProxy (cluster.sh).
NODES ?= 1

.PHONY: testbed-deps testbed-up testbed-down testbed-env testbed-status \
	testbed-apiserver-up testbed-apiserver-down testbed-image

## Debian packages, Kubernetes and etcd builds, images (cached in /var/cache/kaudit): `make setup`.
testbed-deps:
	bash hack/setup.sh

## Tier 2: a kubeadm-made control-plane node (reuses a healthy one); NODES=3 for three behind HAProxy.
## NODES=1 on the three-node bed the tests leave takes that down first: one node means one node.
testbed-up:
ifeq ($(NODES),1)
	@if [ -f "$${KAUDIT_TESTBED:-/var/lib/kaudit-testbed}/cluster/join.env" ]; then \
	  echo "testbed-up: the bed runs the three-node cluster the tests left; back to one node first" >&2; \
	  $(MAKE) -s testbed-down >&2; \
	fi
	bash $(TESTBED_DIR)node.sh up
else
	NODES=$(NODES) bash $(TESTBED_DIR)cluster.sh up
endif

## Tear down every node, the LB and tier 1: kubeadm reset, processes by PID, iptables, mounts, netns.
testbed-down:
	-bash $(TESTBED_DIR)cluster.sh down-all
	-bash $(TESTBED_DIR)apiserver.sh down

## `eval "$(make -s testbed-env)"` points kubectl at the node.
testbed-env:
	@bash $(TESTBED_DIR)node.sh env

testbed-status:
	bash $(TESTBED_DIR)node.sh status

## Tier 1 alone: etcd + kube-apiserver as local processes (the integration fixture does this itself).
testbed-apiserver-up:
	bash $(TESTBED_DIR)apiserver.sh up

testbed-apiserver-down:
	bash $(TESTBED_DIR)apiserver.sh down

## The operator image, built locally and imported into the node's containerd as localhost/kaudit:dev.
testbed-image:
	bash $(TESTBED_DIR)build-image.sh
