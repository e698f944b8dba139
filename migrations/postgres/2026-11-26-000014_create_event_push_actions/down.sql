DROP TABLE event_push_actions;
