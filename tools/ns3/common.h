// Shared settings of the ns-3 counterparts of ikesim's tcp-bulk, dumbbell and many-clients
// scenarios (tools/ns3/README.md): TCP as ikesim's defaults and tcp-bulk's [tcp] section,
// point-to-point links whose only queue is the device's 100-packet drop-tail queue, and the
// timing of Simulator::Run.
#ifndef IKESIM_NS3_COMMON_H
#define IKESIM_NS3_COMMON_H

#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

namespace ikesim_ns3
{

// TCP as ikesim's TcpConfig defaults, which are also what tcp-bulk.toml sets explicitly:
// NewReno with classic (non-PRR) recovery, IW 10, delayed ACK every 2 segments or 200 ms,
// minimum RTO 1 s, timestamps, SACK and window scaling on, 1448 payload bytes per segment
// (MSS 1460 less the 12-byte timestamp option), 4 MiB buffers. TcpNoDelay stays at ns-3's
// default (true: no Nagle), as in the ns-3.44 reference run that ikesim's tcp-bulk matches;
// ns-3's Nagle (TcpNoDelay=false) finishes tcp-bulk 0.24 s later (8.671 s instead of
// 8.431 s): the last 112-byte segment waits for the ACK of everything before it, which the
// receiver delays by 200 ms. ikesim, Nagle on, finishes at 8.420 s. The 1 KB messages of
// many-clients (one segment each, nothing unacknowledged) are not affected either way.
inline void
ConfigureTcp()
{
    using namespace ns3;
    Config::SetDefault("ns3::TcpL4Protocol::SocketType", TypeIdValue(TcpNewReno::GetTypeId()));
    Config::SetDefault("ns3::TcpL4Protocol::RecoveryType",
                       TypeIdValue(TcpClassicRecovery::GetTypeId()));
    Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(1448));
    Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(10));
    Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(2));
    Config::SetDefault("ns3::TcpSocket::DelAckTimeout", TimeValue(MilliSeconds(200)));
    Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(4u << 20));
    Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(4u << 20));
    Config::SetDefault("ns3::TcpSocket::ConnTimeout", TimeValue(Seconds(1))); // initial RTO
    Config::SetDefault("ns3::TcpSocket::DataRetries", UintegerValue(15));
    Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(Seconds(1)));
    Config::SetDefault("ns3::TcpSocketBase::Timestamp", BooleanValue(true));
    Config::SetDefault("ns3::TcpSocketBase::Sack", BooleanValue(true));
    Config::SetDefault("ns3::TcpSocketBase::WindowScaling", BooleanValue(true));
    Config::SetDefault("ns3::TcpSocketBase::LimitedTransmit", BooleanValue(true));
    // TIME-WAIT of 60 s (2 MSL) as ikesim's default; it outlasts every scenario anyway.
    Config::SetDefault("ns3::TcpSocketBase::MaxSegLifetime", DoubleValue(30.0));
}

// A point-to-point link with ns-3's default 100-packet drop-tail device queue, made
// explicit, as in ikesim's links (queue_packets defaults to 100).
inline ns3::PointToPointHelper
Link(const std::string& rate, const std::string& delay)
{
    using namespace ns3;
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", StringValue(rate));
    p2p.SetChannelAttribute("Delay", StringValue(delay));
    p2p.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize", StringValue("100p"));
    return p2p;
}

// Removes the queue disc that Ipv4AddressHelper::Assign installs (pfifo_fast, 1000 packets)
// so that the device queue is the only queue, as in ikesim. Call after Assign.
inline void
OnlyDeviceQueue(const ns3::NetDeviceContainer& devices)
{
    ns3::TrafficControlHelper tch;
    tch.Uninstall(devices);
}

// Peak resident set size of this process in KiB (Linux VmHWM).
inline long
PeakRssKiB()
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
    {
        if (line.rfind("VmHWM:", 0) == 0)
        {
            return std::stol(line.substr(6));
        }
    }
    return 0;
}

// User CPU time of this process so far, in seconds.
inline double
UserCpuSeconds()
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
}

inline double
SecondsSince(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs the simulation until `stop` (the scenario's duration, as ikesim's run_until) and
// prints the wall time and user CPU time of Simulator::Run, the event count and the peak RSS.
inline void
TimedRun(ns3::Time stop, double setupSeconds)
{
    using namespace ns3;
    Simulator::Stop(stop);
    double cpu0 = UserCpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    Simulator::Run();
    double run = SecondsSince(t0);
    double cpu = UserCpuSeconds() - cpu0;
    std::printf("setup: %.4f s\n", setupSeconds);
    std::printf("run: %.4f s (Simulator::Run wall time)\n", run);
    std::printf("run user CPU: %.4f s\n", cpu);
    std::printf("events: %llu\n", static_cast<unsigned long long>(Simulator::GetEventCount()));
    std::printf("peak RSS: %ld MiB (VmHWM after Run)\n", PeakRssKiB() / 1024);
}

} // namespace ikesim_ns3

#endif
