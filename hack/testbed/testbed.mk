# Test-bed targets, included by the top-level Makefile (`include hack/testbed/testbed.mk`).
# Every target runs as root on the machine itself; see hack/testbed/README.md.

TESTBED_DIR := $(dir $(lastword $(MAKEFILE_LIST)))

.PHONY: testbed-deps testbed-up testbed-down testbed-env testbed-status \
	testbed-apiserver-up testbed-apiserver-down testbed-image

## Debian packages + Kubernetes binaries (cached in /var/cache/kaudit); idempotent.
testbed-deps:
	bash $(TESTBED_DIR)install-deps.sh

## Tier 2: a kubeadm-made control-plane node (reuses a healthy one).
testbed-up:
	bash $(TESTBED_DIR)node.sh up

## Tear down tier 2 and tier 1: kubeadm reset, processes by PID, iptables, mounts, netns.
testbed-down:
	-bash $(TESTBED_DIR)node.sh down
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
