"""What crosses a process or a wire: topics, events and their schemas, the MQTT client
factory, signatures, signed documents, trust lists, the certificate QR and the
provisioning protocol. Station and kiosk both speak through this package."""
