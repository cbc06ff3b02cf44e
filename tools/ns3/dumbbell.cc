// ns-3 counterpart of experiments/scenarios/dumbbell.toml: 100 NewReno flows of
// 1,000,000 bytes each through a 100 Mbit/s, 10 ms bottleneck between two routers; every
// host has its own 1 Gbit/s, 1 ms access link; sender i sends to receiver i on port 5001,
// starting at a uniformly random time in [0, 1 s). Every link direction has a 100-packet
// drop-tail device queue and no other queue. TCP in common.h. Global routing. Stops at 60 s
// (the scenario's duration). Prints the Run time, how many flows completed, when the last
// one did, the mean flow time (start to last byte) and the bottleneck's queue drops.
// --starts=FILE takes the start times (ns, one line per flow) from a file instead, e.g.
// the ones ikesim drew (run.sh extracts them from ikesim's metrics.csv) to compare the two
// simulators flow by flow.
#include "common.h"

#include <algorithm>
#include <fstream>
#include <vector>

using namespace ns3;

namespace
{
const uint64_t kBytes = 1000000;
const uint32_t kFlows = 100;
std::vector<uint64_t> g_rx(kFlows, 0);
std::vector<Time> g_done(kFlows);
std::vector<Time> g_start(kFlows);
uint32_t g_drops = 0;

void
SinkRx(uint32_t flow, Ptr<const Packet> p, const Address&)
{
    g_rx[flow] += p->GetSize();
    if (g_rx[flow] >= kBytes && g_done[flow].IsZero())
    {
        g_done[flow] = Simulator::Now();
    }
}

void
Drop(Ptr<const Packet>)
{
    g_drops++;
}
} // namespace

int
main(int argc, char* argv[])
{
    auto t0 = std::chrono::steady_clock::now();
    RngSeedManager::SetSeed(1);
    ikesim_ns3::ConfigureTcp();
    std::string startsFile;
    CommandLine cmd(__FILE__);
    cmd.AddValue("starts", "file of start times in ns, one per flow (default: drawn)", startsFile);
    cmd.Parse(argc, argv);

    NodeContainer routers;
    routers.Create(2); // 0 = left, 1 = right
    NodeContainer senders;
    senders.Create(kFlows);
    NodeContainer receivers;
    receivers.Create(kFlows);
    InternetStackHelper stack;
    stack.Install(routers);
    stack.Install(senders);
    stack.Install(receivers);

    PointToPointHelper bottleneck = ikesim_ns3::Link("100Mbps", "10ms");
    PointToPointHelper access = ikesim_ns3::Link("1Gbps", "1ms");

    NetDeviceContainer bdevs = bottleneck.Install(routers.Get(0), routers.Get(1));
    Ipv4AddressHelper addr("10.254.0.0", "255.255.255.252");
    addr.Assign(bdevs);
    ikesim_ns3::OnlyDeviceQueue(bdevs);
    // Drops of the left-to-right direction (see tcp-bulk.cc for why two traces).
    bdevs.Get(0)->GetObject<PointToPointNetDevice>()->GetQueue()->TraceConnectWithoutContext(
        "Drop",
        MakeCallback(&Drop));
    NS_ABORT_UNLESS(routers.Get(0)->GetObject<TrafficControlLayer>()->TraceConnectWithoutContext(
        "TcDrop",
        MakeCallback(&Drop)));

    // One /30 per access link: senders in 10.1.0.0/16, receivers in 10.2.0.0/16.
    Ipv4AddressHelper saddr("10.1.0.0", "255.255.255.252");
    Ipv4AddressHelper raddr("10.2.0.0", "255.255.255.252");
    std::vector<Ipv4Address> receiverAddr;
    for (uint32_t i = 0; i < kFlows; i++)
    {
        NetDeviceContainer s = access.Install(senders.Get(i), routers.Get(0));
        saddr.Assign(s);
        saddr.NewNetwork();
        ikesim_ns3::OnlyDeviceQueue(s);
        NetDeviceContainer r = access.Install(receivers.Get(i), routers.Get(1));
        receiverAddr.push_back(raddr.Assign(r).GetAddress(0));
        raddr.NewNetwork();
        ikesim_ns3::OnlyDeviceQueue(r);
    }
    Ipv4GlobalRoutingHelper::PopulateRoutingTables();

    const uint16_t port = 5001;
    Ptr<UniformRandomVariable> start = CreateObject<UniformRandomVariable>();
    start->SetAttribute("Min", DoubleValue(0.0));
    start->SetAttribute("Max", DoubleValue(1.0));
    std::ifstream starts;
    if (!startsFile.empty())
    {
        starts.open(startsFile);
        NS_ABORT_MSG_UNLESS(starts, "cannot read " << startsFile);
    }
    for (uint32_t i = 0; i < kFlows; i++)
    {
        if (startsFile.empty())
        {
            g_start[i] = Seconds(start->GetValue());
        }
        else
        {
            int64_t ns = -1;
            starts >> ns;
            NS_ABORT_MSG_UNLESS(ns >= 0, "too few start times in " << startsFile);
            g_start[i] = NanoSeconds(ns);
        }
        PacketSinkHelper sinkHelper("ns3::TcpSocketFactory",
                                    InetSocketAddress(Ipv4Address::GetAny(), port));
        ApplicationContainer sink = sinkHelper.Install(receivers.Get(i));
        sink.Get(0)->TraceConnectWithoutContext("Rx", MakeBoundCallback(&SinkRx, i));
        sink.Start(Seconds(0));

        BulkSendHelper bulk("ns3::TcpSocketFactory", InetSocketAddress(receiverAddr[i], port));
        bulk.SetAttribute("MaxBytes", UintegerValue(kBytes));
        bulk.SetAttribute("SendSize", UintegerValue(1448));
        ApplicationContainer src = bulk.Install(senders.Get(i));
        src.Start(g_start[i]);
    }

    ikesim_ns3::TimedRun(Seconds(60), ikesim_ns3::SecondsSince(t0));
    uint32_t completed = 0;
    Time last;
    double flowTime = 0;
    for (uint32_t i = 0; i < kFlows; i++)
    {
        if (!g_done[i].IsZero())
        {
            completed++;
            last = std::max(last, g_done[i]);
            flowTime += (g_done[i] - g_start[i]).GetSeconds();
        }
    }
    std::printf("sanity: %u of %u flows completed, the last at %.4f s, mean flow time %.4f s; "
                "%u bottleneck queue drops\n",
                completed,
                kFlows,
                last.GetSeconds(),
                completed ? flowTime / completed : 0.0,
                g_drops);
    Simulator::Destroy();
    return 0;
}
