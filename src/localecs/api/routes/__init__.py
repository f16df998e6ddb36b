"""One router per Huawei resource; each route parses, calls one service, renders one view."""
