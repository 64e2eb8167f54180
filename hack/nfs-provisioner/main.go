package main

import (
	_ "sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

func main() {}
