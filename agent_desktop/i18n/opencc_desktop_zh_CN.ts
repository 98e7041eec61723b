<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>AgentsGrid</name>
    <message>
      <location filename="../ui/agents_grid.py" line="80" />
      <source>Ready</source>
      <translation>置闲</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="81" />
      <source>Not ready</source>
      <translation>示忙</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="82" />
      <source>Ringing</source>
      <translation>振铃</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="83" />
      <source>On a call</source>
      <translation>通话中</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="84" />
      <source>After-call work</source>
      <translation>话后处理</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="85" />
      <source>Logged off</source>
      <translation>已签出</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="92" />
      <source>Listening</source>
      <translation>监听中</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="93" />
      <source>Whispering</source>
      <translation>密语中</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="94" />
      <source>Barged in</source>
      <translation>已强插</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="148" />
      <source>Agent</source>
      <translation>座席</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="149" />
      <source>Name</source>
      <translation>姓名</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="150" />
      <source>State</source>
      <translation>状态</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="151" />
      <source>Reason</source>
      <translation>原因</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="152" />
      <source>Time in state</source>
      <translation>状态时长</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="153" />
      <source>Call</source>
      <translation>呼叫</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="154" />
      <source>Monitoring</source>
      <translation>监控</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="176" />
      <source>All agents</source>
      <translation>全部座席</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="177" />
      <source>Logged on</source>
      <translation>已签入</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="182" />
      <location filename="../ui/agents_grid.py" line="432" />
      <source>Listen</source>
      <translation>监听</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="183" />
      <location filename="../ui/agents_grid.py" line="433" />
      <source>Whisper</source>
      <translation>密语</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="184" />
      <location filename="../ui/agents_grid.py" line="434" />
      <source>Barge in</source>
      <translation>强插</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="185" />
      <location filename="../ui/agents_grid.py" line="440" />
      <source>Stop monitoring</source>
      <translation>停止监控</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="186" />
      <location filename="../ui/agents_grid.py" line="445" />
      <source>Force ready</source>
      <translation>强制置闲</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="187" />
      <location filename="../ui/agents_grid.py" line="449" />
      <source>Force not ready</source>
      <translation>强制示忙</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="189" />
      <source>Reason for the forced not-ready state</source>
      <translation>强制示忙原因</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="190" />
      <location filename="../ui/agents_grid.py" line="457" />
      <source>Force logout</source>
      <translation>强制签出</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="203" />
      <source>Show:</source>
      <translation>显示：</translation>
    </message>
    <message>
      <location filename="../ui/agents_grid.py" line="244" />
      <source>Default reason</source>
      <translation>默认原因</translation>
    </message>
  </context>
  <context>
    <name>BannerBar</name>
    <message>
      <location filename="../ui/banner_bar.py" line="58" />
      <source>CTI offline: basic ACD mode, calls still arrive</source>
      <translation>CTI 离线：基本 ACD 模式，来电仍会接入</translation>
    </message>
    <message>
      <location filename="../ui/banner_bar.py" line="60" />
      <source>CTI link is back</source>
      <translation>CTI 连接已恢复</translation>
    </message>
    <message>
      <location filename="../ui/banner_bar.py" line="62" />
      <source>Switch %1 in fallback mode: calls are distributed without CTI</source>
      <translation>交换机 %1 处于应急模式：呼叫不经 CTI 直接分配</translation>
    </message>
    <message>
      <location filename="../ui/banner_bar.py" line="65" />
      <source>Switch %1 is back to normal</source>
      <translation>交换机 %1 已恢复正常</translation>
    </message>
    <message>
      <location filename="../ui/banner_bar.py" line="69" />
      <source>MAJOR OUTAGE</source>
      <translation>重大故障</translation>
    </message>
    <message>
      <location filename="../ui/banner_bar.py" line="71" />
      <source>Notice</source>
      <translation>通知</translation>
    </message>
    <message>
      <location filename="../ui/banner_bar.py" line="104" />
      <source>Acknowledge</source>
      <translation>知道了</translation>
    </message>
  </context>
  <context>
    <name>BsArea</name>
    <message>
      <location filename="../web/bs_area.py" line="433" />
      <source>&amp;Windows</source>
      <translation>窗口(&amp;W)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="450" />
      <source>&amp;Tile</source>
      <translation>平铺(&amp;T)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="451" />
      <source>&amp;Cascade</source>
      <translation>层叠(&amp;C)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="454" />
      <source>Ma&amp;ximise</source>
      <translation>最大化(&amp;X)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="455" />
      <source>Mi&amp;nimise</source>
      <translation>最小化(&amp;N)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="456" />
      <source>&amp;Restore</source>
      <translation>还原(&amp;R)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="457" />
      <source>Bring to &amp;front</source>
      <translation>置于顶层(&amp;F)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="458" />
      <source>Bring for&amp;ward</source>
      <translation>上移一层(&amp;W)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="459" />
      <source>Send &amp;backward</source>
      <translation>下移一层(&amp;B)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="460" />
      <source>Send to bac&amp;k</source>
      <translation>置于底层(&amp;K)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="461" />
      <source>C&amp;lose</source>
      <translation>关闭(&amp;L)</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="468" />
      <source>Close &amp;all</source>
      <translation>全部关闭(&amp;A)</translation>
    </message>
  </context>
  <context>
    <name>CallBar</name>
    <message>
      <location filename="../ui/call_bar.py" line="103" />
      <source>Answer</source>
      <translation>接听</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="104" />
      <source>Release</source>
      <translation>挂机</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="105" />
      <location filename="../ui/call_bar.py" line="280" />
      <location filename="../ui/call_bar.py" line="309" />
      <source>Hold</source>
      <translation>保持</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="106" />
      <source>Transfer…</source>
      <translation>转接…</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="108" />
      <source>Complete transfer</source>
      <translation>完成转接</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="110" />
      <location filename="../ui/call_bar.py" line="357" />
      <source>Conference</source>
      <translation>三方会议</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="111" />
      <source>Reconnect</source>
      <translation>返回原通话</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="112" />
      <source>Mute</source>
      <translation>静音</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="116" />
      <source>Keypad</source>
      <translation>拨号盘</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="266" />
      <source>No call</source>
      <translation>无通话</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="268" />
      <location filename="../ui/call_bar.py" line="305" />
      <source>Unknown caller</source>
      <translation>未知来电</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="277" />
      <source>Retrieve</source>
      <translation>取回</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="303" />
      <source>No call (CTI offline)</source>
      <translation>无通话（CTI 离线）</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="354" />
      <location filename="../ui/call_bar.py" line="363" />
      <source>Ringing</source>
      <translation>振铃</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="355" />
      <location filename="../ui/call_bar.py" line="364" />
      <source>Talking</source>
      <translation>通话中</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="356" />
      <location filename="../ui/call_bar.py" line="365" />
      <source>On hold</source>
      <translation>保持中</translation>
    </message>
    <message>
      <location filename="../ui/call_bar.py" line="358" />
      <source>Ended</source>
      <translation>已结束</translation>
    </message>
  </context>
  <context>
    <name>CustomerPaneWidget</name>
    <message>
      <location filename="../ui/customer_pane.py" line="94" />
      <source>Verify service password</source>
      <translation>验证服务密码</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="108" />
      <source>Region</source>
      <translation>区域</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="109" />
      <source>Account</source>
      <translation>账户</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="110" />
      <source>Balance</source>
      <translation>余额</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="111" />
      <source>Selected in IVR</source>
      <translation>IVR 业务选择</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="112" />
      <source>Waited</source>
      <translation>等待时长</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="113" />
      <source>Path</source>
      <translation>呼叫轨迹</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="115" />
      <source>Services held</source>
      <translation>已订购业务</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="117" />
      <source>Recommended</source>
      <translation>营销推荐</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="119" />
      <source>Not subscribed</source>
      <translation>未订购业务</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="121" />
      <source>Care plans</source>
      <translation>关怀计划</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="186" />
      <location filename="../ui/customer_pane.py" line="187" />
      <source>Recorded.</source>
      <translation>已记录。</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="193" />
      <source>Not recorded: %1</source>
      <translation>未记录：%1</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="206" />
      <source>No call</source>
      <translation>无通话</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="210" />
      <source>Not a customer</source>
      <translation>非登记客户</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="212" />
      <source>Looking up the customer…</source>
      <translation>正在查询客户…</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="231" />
      <source>Locked — verify the service password</source>
      <translation>已锁定，请先验证服务密码</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="242" />
      <source>Active</source>
      <translation>正常</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="243" />
      <source>No active service</source>
      <translation>无在用业务</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="244" />
      <source>Blacklisted</source>
      <translation>黑名单</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="253" />
      <source>IVR %1</source>
      <translation>IVR %1</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="254" />
      <source>chose %1</source>
      <translation>选择 %1</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="255" />
      <source>queue %1</source>
      <translation>队列 %1</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="256" />
      <source>overflow to %1</source>
      <translation>溢出至 %1</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="257" />
      <source>offered to %1</source>
      <translation>分配给 %1</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="258" />
      <source>answered by %1</source>
      <translation>%1 应答</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="259" />
      <source>held</source>
      <translation>保持</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="260" />
      <source>retrieved</source>
      <translation>恢复</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="261" />
      <source>transferred to %1</source>
      <translation>转接至 %1</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="262" />
      <source>conference</source>
      <translation>会议</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="263" />
      <source>released</source>
      <translation>挂机</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="292" />
      <location filename="../ui/customer_pane.py" line="296" />
      <location filename="../ui/customer_pane.py" line="303" />
      <location filename="../ui/customer_pane.py" line="317" />
      <source>None</source>
      <translation>无</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="298" />
      <source>VIP only</source>
      <translation>仅限VIP</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="306" />
      <source>%1 (due %2)</source>
      <translation>%1（到期 %2）</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="311" />
      <source>OVERDUE</source>
      <translation>已逾期</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="325" />
      <source>Accept</source>
      <translation>接受</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="327" />
      <source>Decline</source>
      <translation>拒绝</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="336" />
      <source>Why does the customer decline?</source>
      <translation>客户拒绝的原因</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="337" />
      <source>Confirm decline</source>
      <translation>确认拒绝</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="390" />
      <source>Accepted</source>
      <translation>已接受</translation>
    </message>
    <message>
      <location filename="../ui/customer_pane.py" line="390" />
      <source>Declined</source>
      <translation>已拒绝</translation>
    </message>
  </context>
  <context>
    <name>DesktopController</name>
    <message>
      <location filename="../ui/app.py" line="258" />
      <source>Finish the call before logging out.</source>
      <translation>请先结束通话再退出登录。</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="418" />
      <source>This customer belongs to another region: details not shown.</source>
      <translation>该客户属于其他区域，不显示详细资料。</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="422" />
      <source>Customer data unavailable: %1</source>
      <translation>无法获取客户资料：%1</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="429" />
      <source>Customer data unreadable: %1</source>
      <translation>客户资料无法解析：%1</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="484" />
      <source>Click-to-dial needs a call in progress.</source>
      <translation>点击拨号仅在通话中可用。</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="550" />
      <source>the audio path works</source>
      <translation>音频通路正常</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="551" />
      <source>the audio path works, but no microphone or speaker was found</source>
      <translation>音频通路正常，但未找到麦克风或扬声器</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="552" />
      <source>the test tone did not come back</source>
      <translation>测试音未返回</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="553" />
      <source>not possible during a call</source>
      <translation>通话中无法测试</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="556" />
      <source>Audio test: %1</source>
      <translation>音频测试：%1</translation>
    </message>
    <message>
      <location filename="../ui/app.py" line="702" />
      <source>Refused: %1</source>
      <translation>操作被拒绝：%1</translation>
    </message>
  </context>
  <context>
    <name>IncomingToast</name>
    <message>
      <location filename="../ui/toast.py" line="46" />
      <source>Incoming call</source>
      <translation>来电</translation>
    </message>
    <message>
      <location filename="../ui/toast.py" line="59" />
      <source>Answer</source>
      <translation>接听</translation>
    </message>
    <message>
      <location filename="../ui/toast.py" line="63" />
      <source>Reject</source>
      <translation>拒接</translation>
    </message>
    <message>
      <location filename="../ui/toast.py" line="123" />
      <source>Unknown number</source>
      <translation>未知号码</translation>
    </message>
    <message>
      <location filename="../ui/toast.py" line="124" />
      <source>Not a known customer</source>
      <translation>非登记客户</translation>
    </message>
    <message>
      <location filename="../ui/toast.py" line="129" />
      <source>Queue: %1</source>
      <translation>队列：%1</translation>
    </message>
    <message>
      <location filename="../ui/toast.py" line="131" />
      <source>Selected: %1</source>
      <translation>业务选择：%1</translation>
    </message>
  </context>
  <context>
    <name>KeypadWidget</name>
    <message>
      <location filename="../ui/keypad.py" line="30" />
      <source>Digits sent</source>
      <translation>已发送的按键</translation>
    </message>
  </context>
  <context>
    <name>LoginDialog</name>
    <message>
      <location filename="../ui/login.py" line="135" />
      <source>OpenCC agent desktop — log in</source>
      <translation>OpenCC 座席工作台 — 登录</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="154" />
      <source>Answer calls automatically</source>
      <translation>自动应答来电</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="163" />
      <source>Test devices</source>
      <translation>测试设备</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="171" />
      <source>Advanced</source>
      <translation>高级</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="176" />
      <source>derived from the server address</source>
      <translation>根据服务器地址自动生成</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="180" />
      <source>announced by the server</source>
      <translation>由服务器下发</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="183" />
      <source>Web panels</source>
      <translation>业务页面</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="185" />
      <source>SIP registrar</source>
      <translation>SIP 注册服务器</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="193" />
      <source>Log in</source>
      <translation>登录</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="198" />
      <source>Server</source>
      <translation>服务器</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="200" />
      <source>Agent ID</source>
      <translation>工号</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="202" />
      <source>Password</source>
      <translation>密码</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="204" />
      <source>Language</source>
      <translation>语言</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="206" />
      <source>Microphone</source>
      <translation>麦克风</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="207" />
      <source>Speaker</source>
      <translation>扬声器</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="208" />
      <source>Ringer</source>
      <translation>振铃设备</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="267" />
      <source>System default</source>
      <translation>系统默认</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="286" />
      <source>Devices work.</source>
      <translation>设备正常。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="286" />
      <source>Device test failed.</source>
      <translation>设备测试失败。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="317" />
      <source>Enter the server address.</source>
      <translation>请输入服务器地址。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="318" />
      <source>The address must start with ws:// or wss://.</source>
      <translation>地址必须以 ws:// 或 wss:// 开头。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="319" />
      <source>The address has no valid host name.</source>
      <translation>地址中没有有效的主机名。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="320" />
      <source>The port of the address is not valid.</source>
      <translation>地址中的端口无效。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="327" />
      <source>Enter your agent ID.</source>
      <translation>请输入工号。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="329" />
      <source>The agent ID cannot contain spaces.</source>
      <translation>工号不能包含空格。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="331" />
      <source>Enter your password.</source>
      <translation>请输入密码。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="334" />
      <source>The web address must be http:// or https:// with a host name.</source>
      <translation>业务页面地址必须以 http:// 或 https:// 开头并包含主机名。</translation>
    </message>
    <message>
      <location filename="../ui/login.py" line="367" />
      <source>Testing…</source>
      <translation>正在测试…</translation>
    </message>
  </context>
  <context>
    <name>MainWindow</name>
    <message>
      <location filename="../ui/main_window.py" line="78" />
      <source>OpenCC agent desktop — %1</source>
      <translation>OpenCC 座席工作台 — %1</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="111" />
      <source>Workspace</source>
      <translation>工作区</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="144" />
      <source>&amp;Agent</source>
      <translation>座席(&amp;A)</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="145" />
      <source>Log out</source>
      <translation>退出登录</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="149" />
      <source>Pa&amp;nels</source>
      <translation>业务页面(&amp;N)</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="151" />
      <source>Notices</source>
      <translation>通知通告</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="152" />
      <source>Knowledge base</source>
      <translation>知识库</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="153" />
      <source>Work orders</source>
      <translation>工单</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="154" />
      <source>Business categories</source>
      <translation>业务分类</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="155" />
      <source>Queries</source>
      <translation>查询统计</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="156" />
      <source>Services</source>
      <translation>业务目录</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="166" />
      <source>&amp;Windows</source>
      <translation>窗口(&amp;W)</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="169" />
      <source>&amp;Phone</source>
      <translation>话机(&amp;P)</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="170" />
      <source>Answer calls automatically</source>
      <translation>自动应答来电</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="175" />
      <source>Test audio devices</source>
      <translation>测试音频设备</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="193" />
      <source>Team</source>
      <translation>班组</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="204" />
      <source>CTI: connecting…</source>
      <translation>CTI：正在连接…</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="205" />
      <source>CTI: online</source>
      <translation>CTI：在线</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="206" />
      <source>CTI: offline</source>
      <translation>CTI：离线</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="213" />
      <source>Phone: registered</source>
      <translation>话机：已注册</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="215" />
      <source>Phone: not registered (%1)</source>
      <translation>话机：未注册（%1）</translation>
    </message>
    <message>
      <location filename="../ui/main_window.py" line="217" />
      <source>Phone: not registered</source>
      <translation>话机：未注册</translation>
    </message>
  </context>
  <context>
    <name>PanelNavigator</name>
    <message>
      <location filename="../web/profile.py" line="286" />
      <source>Could not sign in to the web panels.</source>
      <translation>无法登录业务页面。</translation>
    </message>
    <message>
      <location filename="../web/profile.py" line="330" />
      <source>The page could not load.</source>
      <translation>页面无法加载。</translation>
    </message>
    <message>
      <location filename="../web/profile.py" line="339" />
      <source>The web panels refused the sign-in token.</source>
      <translation>业务页面拒绝了登录令牌。</translation>
    </message>
    <message>
      <location filename="../web/profile.py" line="369" />
      <source>The web session expired and signing in again did not work.</source>
      <translation>业务页面会话已过期，重新登录未成功。</translation>
    </message>
  </context>
  <context>
    <name>StateBar</name>
    <message>
      <location filename="../ui/state_bar.py" line="53" />
      <location filename="../ui/state_bar.py" line="134" />
      <source>Ready</source>
      <translation>置闲</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="60" />
      <location filename="../ui/state_bar.py" line="133" />
      <source>Not ready</source>
      <translation>示忙</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="63" />
      <source>End wrap-up</source>
      <translation>结束话后处理</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="117" />
      <source>No not-ready reasons are configured.</source>
      <translation>未配置示忙原因。</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="132" />
      <source>Logged off</source>
      <translation>已签出</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="135" />
      <source>Call coming</source>
      <translation>来电中</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="136" />
      <source>On a call</source>
      <translation>通话中</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="137" />
      <source>Wrap-up</source>
      <translation>话后处理</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="142" />
      <source>[set by %1]</source>
      <translation>[由 %1 设置]</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="156" />
      <source>Ready again in %1</source>
      <translation>%1 后自动置闲</translation>
    </message>
    <message>
      <location filename="../ui/state_bar.py" line="158" />
      <source>Wrap-up without time limit</source>
      <translation>话后处理（不限时）</translation>
    </message>
  </context>
  <context>
    <name>TeamLeadView</name>
    <message>
      <location filename="../ui/team_lead.py" line="53" />
      <source>Wallboard</source>
      <translation>监控大屏</translation>
    </message>
    <message>
      <location filename="../ui/team_lead.py" line="54" />
      <source>Agents</source>
      <translation>座席</translation>
    </message>
  </context>
  <context>
    <name>TransferDialog</name>
    <message>
      <location filename="../ui/transfer_dialog.py" line="69" />
      <source>Transfer call</source>
      <translation>转接呼叫</translation>
    </message>
    <message>
      <location filename="../ui/transfer_dialog.py" line="70" />
      <source>Blind transfer</source>
      <translation>直接转接</translation>
    </message>
    <message>
      <location filename="../ui/transfer_dialog.py" line="72" />
      <source>Consult first</source>
      <translation>咨询转接</translation>
    </message>
    <message>
      <location filename="../ui/transfer_dialog.py" line="87" />
      <source>Search</source>
      <translation>搜索</translation>
    </message>
    <message>
      <location filename="../ui/transfer_dialog.py" line="104" />
      <source>Agents</source>
      <translation>座席</translation>
    </message>
    <message>
      <location filename="../ui/transfer_dialog.py" line="105" />
      <source>Queues</source>
      <translation>队列</translation>
    </message>
    <message>
      <location filename="../ui/transfer_dialog.py" line="106" />
      <source>IVR</source>
      <translation>IVR</translation>
    </message>
    <message>
      <location filename="../ui/transfer_dialog.py" line="117" />
      <source>Transfer</source>
      <translation>转接</translation>
    </message>
    <message>
      <location filename="../ui/transfer_dialog.py" line="177" />
      <source>Choose a target.</source>
      <translation>请选择转接目标。</translation>
    </message>
  </context>
  <context>
    <name>WallboardWidget</name>
    <message>
      <location filename="../ui/wallboard.py" line="111" />
      <source>Calls waiting</source>
      <translation>排队呼叫</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="112" />
      <location filename="../ui/wallboard.py" line="123" />
      <source>Longest wait</source>
      <translation>最长等待</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="113" />
      <location filename="../ui/wallboard.py" line="142" />
      <source>Service level</source>
      <translation>服务水平</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="121" />
      <source>Queue</source>
      <translation>队列</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="122" />
      <source>Waiting</source>
      <translation>排队</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="124" />
      <source>Ready</source>
      <translation>置闲</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="125" />
      <source>Reserved</source>
      <translation>振铃</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="126" />
      <source>Busy</source>
      <translation>通话中</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="127" />
      <source>After-call work</source>
      <translation>话后处理</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="128" />
      <source>Not ready</source>
      <translation>示忙</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="129" />
      <source>SL</source>
      <translation>服务水平</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="130" />
      <location filename="../ui/wallboard.py" line="149" />
      <source>Target</source>
      <translation>目标</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="154" />
      <source>Service level by tier</source>
      <translation>各客户层次服务水平</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="172" />
      <source>Service level trend</source>
      <translation>服务水平趋势</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="270" />
      <source>{achieved} / {target}</source>
      <translation>{achieved} / {target}</translation>
    </message>
    <message>
      <location filename="../ui/wallboard.py" line="332" />
      <source>{tier} {achieved} / {target}</source>
      <translation>{tier} {achieved} / {target}</translation>
    </message>
  </context>
  <context>
    <name>WebWindow</name>
    <message>
      <location filename="../web/bs_area.py" line="138" />
      <source>Retry</source>
      <translation>重试</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="229" />
      <source>Call trajectory</source>
      <translation>呼叫轨迹</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="230" />
      <source>Contact history</source>
      <translation>接触记录</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="231" />
      <source>New work order</source>
      <translation>新建工单</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="232" />
      <source>Recent work orders</source>
      <translation>近期工单</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="233" />
      <location filename="../web/bs_area.py" line="244" />
      <source>Knowledge base</source>
      <translation>知识库</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="234" />
      <source>Business categories</source>
      <translation>业务分类</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="235" />
      <source>Inquiry</source>
      <translation>咨询</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="236" />
      <source>Acceptance</source>
      <translation>受理</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="237" />
      <source>Queries</source>
      <translation>查询统计</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="238" />
      <source>Accounts and bills</source>
      <translation>账户与账单</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="239" />
      <source>Payment</source>
      <translation>缴费</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="240" />
      <source>Customer services and care</source>
      <translation>客户业务与关怀</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="241" />
      <source>Service catalogue</source>
      <translation>业务目录</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="242" />
      <source>Care plans</source>
      <translation>关怀计划</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="245" />
      <source>Notices</source>
      <translation>通知通告</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="246" />
      <source>Work orders</source>
      <translation>工单</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="247" />
      <source>Business record</source>
      <translation>业务记录</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="248" />
      <source>Web panels</source>
      <translation>业务页面</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="259" />
      <source>The page could not be loaded.</source>
      <translation>页面无法加载。</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="260" />
      <source>Could not sign in to the web panels.</source>
      <translation>无法登录业务页面。</translation>
    </message>
    <message>
      <location filename="../web/bs_area.py" line="261" />
      <source>The web session has expired.</source>
      <translation>业务页面会话已过期。</translation>
    </message>
  </context>
  <context>
    <name>WrapUpWidget</name>
    <message>
      <location filename="../ui/wrapup.py" line="55" />
      <source>After-call notes</source>
      <translation>话后小结</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="60" />
      <source>Save</source>
      <translation>保存</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="63" />
      <source>Discard</source>
      <translation>放弃</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="70" />
      <source>Category</source>
      <translation>类别</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="100" />
      <source>(no category)</source>
      <translation>（无类别）</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="121" />
      <source>Wrap-up of call %1</source>
      <translation>呼叫 %1 的话后处理</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="134" />
      <source>Saved.</source>
      <translation>已保存。</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="139" />
      <source>Not saved: %1</source>
      <translation>未保存：%1</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="160" />
      <source>Notes are too long (%1 of at most %2 characters).</source>
      <translation>小结过长（%1 字，最多 %2 字）。</translation>
    </message>
    <message>
      <location filename="../ui/wrapup.py" line="184" />
      <source>Saving…</source>
      <translation>正在保存…</translation>
    </message>
  </context>
</TS>