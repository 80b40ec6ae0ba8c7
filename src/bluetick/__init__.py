"""bluetick: WhatsApp delivery receipts merged into message_logs.whatsapp_status."""
