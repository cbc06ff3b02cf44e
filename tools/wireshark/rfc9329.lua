-- rfc9329.lua: Wireshark/tshark dissector for RFC 9329, "TCP Encapsulation of IKE and
-- IPsec Packets" (obsoletes RFC 8229).
--
-- Wireshark 4.0 has no dissector for it (its "tcpencap" is Cisco's proprietary IPsec over
-- TCP). Stream format (RFC 9329 sections 3 and 4):
--
--   "IKETCP"                          6 octets, once, TCP Originator -> Responder, first
--   Length(2) | 00000000 | IKE msg     IKE frame  (Length counts itself)
--   Length(2) | ESP packet (SPI != 0)  ESP frame
--   00 03 | FF                         NAT-keepalive
--   00 02                              empty frame (ignored)
--   Length 0 or 1                      fatal: the receiver closes the connection
--
-- IKE messages go to Wireshark's "isakmp" dissector and ESP packets to its "esp" dissector,
-- so the usual key tables (ikev2_decryption_table, esp_sa) decrypt them.
--
-- Use: tshark -X lua_script:rfc9329.lua -r capture.pcap
-- (see README.md next to this file). Registered on TCP port 4500 and as a heuristic
-- dissector on TCP (a stream whose first data are "IKETCP", on any port).

local PREFIX = "IKETCP"
local PREFIX_LEN = 6

local p = Proto("rfc9329", "IKE and ESP over TCP (RFC 9329)")

local types = {
    prefix = "prefix",
    ike = "ike",
    esp = "esp",
    keepalive = "keepalive",
    empty = "empty",
    invalid = "invalid",
}

local f = {
    prefix = ProtoField.string("rfc9329.prefix", "Stream prefix"),
    length = ProtoField.uint16("rfc9329.length", "Length", base.DEC),
    type = ProtoField.string("rfc9329.type", "Frame type"),
    marker = ProtoField.uint32("rfc9329.marker", "Non-ESP marker", base.HEX),
    spi = ProtoField.uint32("rfc9329.spi", "ESP SPI", base.HEX),
    keepalive = ProtoField.uint8("rfc9329.keepalive", "NAT-keepalive", base.HEX),
    payload = ProtoField.bytes("rfc9329.payload", "Payload"),
}
p.fields = { f.prefix, f.length, f.type, f.marker, f.spi, f.keepalive, f.payload }

local ei = {
    bad_length = ProtoExpert.new("rfc9329.length.invalid",
        "Length 0 or 1 is invalid: the receiver must close the connection (RFC 9329 section 3)",
        expert.group.MALFORMED, expert.severity.ERROR),
    short = ProtoExpert.new("rfc9329.payload.short",
        "Payload of 1 to 4 octets that is not a NAT-keepalive (dropped by the receiver)",
        expert.group.MALFORMED, expert.severity.WARN),
    empty = ProtoExpert.new("rfc9329.empty",
        "Empty frame (Length 2): silently ignored by the receiver",
        expert.group.COMMENTS_GROUP, expert.severity.CHAT),
}
p.experts = { ei.bad_length, ei.short, ei.empty }

local isakmp = Dissector.get("isakmp")
local esp = Dissector.get("esp")

-- Whether the octets at `offset` are (or, when `partial`, could be the start of) the prefix.
local function prefix_at(tvb, offset)
    local avail = tvb:len() - offset
    if avail <= 0 then
        return false, false
    end
    local n = math.min(avail, PREFIX_LEN)
    local s = tvb:raw(offset, n)
    if s ~= PREFIX:sub(1, n) then
        return false, false
    end
    return n == PREFIX_LEN, n < PREFIX_LEN
end

local labels = {
    prefix = "stream prefix (IKETCP)",
    keepalive = "NAT-keepalive",
    empty = "empty frame",
    invalid = "invalid frame",
}

-- The Info column lists every frame of the segment: ISAKMP and ESP write their own text,
-- each after a fence so that they do not erase the frames before them. TCP fences the column
-- between the PDUs it hands over separately (after a reassembled one), so the first frame
-- of a call adds a separator when the column already holds fenced text.
local function info_start(pinfo, state)
    if state.n == 0 then
        pinfo.cols.info:set("") -- clears what TCP wrote, keeps fenced text
        if tostring(pinfo.cols.info) ~= "" then
            pinfo.cols.info:append(", ")
            pinfo.cols.info:fence()
        end
    else
        pinfo.cols.info:append(", ")
        pinfo.cols.info:fence()
    end
    state.n = state.n + 1
end

local function info_label(pinfo, state, kind)
    info_start(pinfo, state)
    pinfo.cols.info:append("RFC 9329 " .. labels[kind])
end

-- Dissects one frame (or the prefix) at `offset`, all of whose `len` octets are in `tvb`.
local function dissect_frame(tvb, pinfo, tree, offset, len, is_prefix, state)
    if is_prefix then
        local t = tree:add(p, tvb:range(offset, PREFIX_LEN))
        t:append_text(", stream prefix")
        t:add(f.prefix, tvb:range(offset, PREFIX_LEN))
        t:add(f.type, types.prefix):set_generated()
        info_label(pinfo, state, "prefix")
        return
    end
    local t = tree:add(p, tvb:range(offset, len))
    local lt = t:add(f.length, tvb:range(offset, 2))
    local n = len - 2
    if n == 0 then
        t:add(f.type, types.empty):set_generated()
        t:add_proto_expert_info(ei.empty)
        t:append_text(", empty frame")
        info_label(pinfo, state, "empty")
        return
    end
    local body = tvb:range(offset + 2, n)
    if n == 1 and body:uint() == 0xff then
        t:add(f.type, types.keepalive):set_generated()
        t:add(f.keepalive, body)
        t:append_text(", NAT-keepalive")
        info_label(pinfo, state, "keepalive")
        return
    end
    if n <= 4 then
        t:add(f.type, types.invalid):set_generated()
        t:add(f.payload, body)
        lt:add_proto_expert_info(ei.short)
        t:append_text(", too short")
        info_label(pinfo, state, "invalid")
        return
    end
    state.sub = true
    if body:range(0, 4):uint() == 0 then
        t:add(f.type, types.ike):set_generated()
        t:add(f.marker, body:range(0, 4))
        t:append_text(", IKE, Length " .. len)
        info_start(pinfo, state)
        isakmp:call(body:range(4):tvb(), pinfo, tree)
        return
    end
    t:add(f.type, types.esp):set_generated()
    t:add(f.spi, body:range(0, 4))
    t:append_text(", ESP, Length " .. len)
    info_start(pinfo, state)
    esp:call(body:tvb(), pinfo, tree)
end

-- TCP dissector with manual reassembly: every PDU is the prefix or a Length-prefixed frame.
function p.dissector(tvb, pinfo, tree)
    local total = tvb:len()
    local offset = 0
    local state = { n = 0, sub = false }
    while offset < total do
        local avail = total - offset
        local is_prefix, partial = false, false
        if offset == 0 then
            -- The prefix only opens the stream, so it can only start a TCP payload (or a
            -- reassembled one).
            is_prefix, partial = prefix_at(tvb, offset)
        end
        if partial then
            pinfo.desegment_offset = offset
            pinfo.desegment_len = PREFIX_LEN - avail
            break
        end
        local len
        if is_prefix then
            len = PREFIX_LEN
        else
            if avail < 2 then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
                break
            end
            len = tvb:range(offset, 2):uint()
            if len < 2 then
                -- Fatal per RFC 9329: nothing after this can be framed.
                local t = tree:add(p, tvb:range(offset))
                local lt = t:add(f.length, tvb:range(offset, 2))
                t:add(f.type, types.invalid):set_generated()
                lt:add_proto_expert_info(ei.bad_length)
                t:append_text(", invalid Length " .. len)
                info_label(pinfo, state, "invalid")
                break
            end
            if avail < len then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = len - avail
                break
            end
        end
        dissect_frame(tvb, pinfo, tree, offset, len, is_prefix, state)
        offset = offset + len
    end
    if state.n > 0 then
        if state.sub then
            pinfo.cols.protocol:prepend("RFC9329/")
        else
            pinfo.cols.protocol:set("RFC9329")
        end
    end
    return total
end

-- Heuristic: a TCP stream whose first payload octets are "IKETCP" (RFC 9329 lets the
-- port be configured, e.g. 443); the rest of the conversation then goes to this dissector.
local function heuristic(tvb, pinfo, tree)
    if tvb:len() < PREFIX_LEN or tvb:raw(0, PREFIX_LEN) ~= PREFIX then
        return false
    end
    pinfo.conversation = p
    p.dissector(tvb, pinfo, tree)
    return true
end

DissectorTable.get("tcp.port"):add(4500, p)
p:register_heuristic("tcp", heuristic)
