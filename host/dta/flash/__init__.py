"""Flashing and provisioning real boards: device configs (devconfig), the partition table
format (partitions), flashable images (image: LittleFS, ROMFS, merged layout, factory batches),
the erase-write-verify step over esptool's API (esptool_flash), the device's serial console
(console) and config updates over the raw REPL (provision). docs/flashing.md."""
