// ns-3 counterpart of experiments/scenarios/tcp-bulk.toml: one 10,000,000-byte NewReno
// transfer over a single 10 Mbit/s, 20 ms one-way point-to-point link with a 100-packet
// drop-tail device queue and no other queue. TCP in common.h. Stops at 30 s (the
// scenario's duration). Prints the Run time and the completion time (last byte at the
// sink; the sender starts at 0), retransmissions, recoveries and timeouts.
#include "common.h"

using namespace ns3;

namespace
{
const uint64_t kBytes = 10000000;
uint64_t g_rx = 0;
Time g_done;
uint32_t g_retx = 0;
uint32_t g_recoveries = 0;
uint32_t g_timeouts = 0;
uint32_t g_drops = 0;
SequenceNumber32 g_high(0);
bool g_sawData = false;

void
SinkRx(Ptr<const Packet> p, const Address&)
{
    g_rx += p->GetSize();
    if (g_rx >= kBytes && g_done.IsZero())
    {
        g_done = Simulator::Now();
    }
}

// A data segment whose start lies below the highest byte sent so far is a retransmission.
void
SenderTx(Ptr<const Packet> p, const TcpHeader& h, Ptr<const TcpSocketBase>)
{
    if (p->GetSize() == 0)
    {
        return;
    }
    SequenceNumber32 seq = h.GetSequenceNumber();
    SequenceNumber32 end = seq + p->GetSize();
    if (g_sawData && seq < g_high)
    {
        g_retx++;
    }
    if (!g_sawData || end > g_high)
    {
        g_high = end;
    }
    g_sawData = true;
}

void
CongState(TcpSocketState::TcpCongState_t, TcpSocketState::TcpCongState_t now)
{
    if (now == TcpSocketState::CA_RECOVERY)
    {
        g_recoveries++;
    }
    else if (now == TcpSocketState::CA_LOSS)
    {
        g_timeouts++;
    }
}

void
QueueDrop(Ptr<const Packet>)
{
    g_drops++;
}

void
HookSender(Ptr<BulkSendApplication> app)
{
    Ptr<Socket> s = app->GetSocket();
    s->TraceConnectWithoutContext("Tx", MakeCallback(&SenderTx));
    s->TraceConnectWithoutContext("CongState", MakeCallback(&CongState));
}
} // namespace

int
main(int argc, char* argv[])
{
    auto t0 = std::chrono::steady_clock::now();
    RngSeedManager::SetSeed(1);
    ikesim_ns3::ConfigureTcp();
    // After ConfigureTcp, so that e.g. --ns3::TcpSocketBase::Sack=false overrides it.
    CommandLine cmd(__FILE__);
    cmd.Parse(argc, argv);

    NodeContainer nodes;
    nodes.Create(2); // 0 = sender 10.0.0.1, 1 = receiver 10.0.0.2
    PointToPointHelper p2p = ikesim_ns3::Link("10Mbps", "20ms");
    NetDeviceContainer devs = p2p.Install(nodes);
    InternetStackHelper stack;
    stack.Install(nodes);
    Ipv4AddressHelper addr("10.0.0.0", "255.255.255.0");
    Ipv4InterfaceContainer ifs = addr.Assign(devs);
    ikesim_ns3::OnlyDeviceQueue(devs);
    // A full device queue stops the device's transmit queue and the traffic-control layer
    // (with no queue disc) drops the packet; the device queue itself drops only if a packet
    // gets past that. Count both: together they are the 100-packet queue's drops.
    devs.Get(0)->GetObject<PointToPointNetDevice>()->GetQueue()->TraceConnectWithoutContext(
        "Drop",
        MakeCallback(&QueueDrop));
    NS_ABORT_UNLESS(nodes.Get(0)->GetObject<TrafficControlLayer>()->TraceConnectWithoutContext(
        "TcDrop",
        MakeCallback(&QueueDrop)));

    const uint16_t port = 5001;
    PacketSinkHelper sinkHelper("ns3::TcpSocketFactory",
                                InetSocketAddress(Ipv4Address::GetAny(), port));
    ApplicationContainer sink = sinkHelper.Install(nodes.Get(1));
    sink.Get(0)->TraceConnectWithoutContext("Rx", MakeCallback(&SinkRx));
    sink.Start(Seconds(0));

    BulkSendHelper bulk("ns3::TcpSocketFactory", InetSocketAddress(ifs.GetAddress(1), port));
    bulk.SetAttribute("MaxBytes", UintegerValue(kBytes));
    bulk.SetAttribute("SendSize", UintegerValue(1448));
    ApplicationContainer src = bulk.Install(nodes.Get(0));
    src.Start(Seconds(0));
    // The application creates its socket when it starts (at 0); hook it just after.
    Simulator::Schedule(MicroSeconds(1),
                        &HookSender,
                        DynamicCast<BulkSendApplication>(src.Get(0)));

    ikesim_ns3::TimedRun(Seconds(30), ikesim_ns3::SecondsSince(t0));
    std::printf("sanity: received %llu of %llu bytes, completion %.4f s, %u retransmissions, "
                "%u fast recoveries, %u timeouts, %u queue drops\n",
                static_cast<unsigned long long>(g_rx),
                static_cast<unsigned long long>(kBytes),
                g_done.GetSeconds(),
                g_retx,
                g_recoveries,
                g_timeouts,
                g_drops);
    Simulator::Destroy();
    return 0;
}
